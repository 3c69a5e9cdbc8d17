"""The `hub` command: init, serve, demo, keys, credentials, recipients, deliveries, audit,
compliance.

May use every capability and hub.http (to serve); the only hub package that imports Typer.
"""
