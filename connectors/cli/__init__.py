"""The `connector` command: pull, serve, open, evidence, and the per-country commands (init,
submit, read).

May use every connector package; the only one that imports Typer.
"""
