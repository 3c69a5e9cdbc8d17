"""`python -m hub` runs the `hub` command."""

from hub.cli.main import main

main()
