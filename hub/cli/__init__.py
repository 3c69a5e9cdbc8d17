"""The `hub` command: init, serve, demo, keys, credentials, recipients, deliveries, audit,
compliance, evidence.

May use every capability and hub.http (to serve); the only hub package that imports Typer.
"""
