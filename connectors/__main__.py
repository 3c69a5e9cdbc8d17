"""`python -m connectors` runs the `connector` command."""

from connectors.cli.main import main

main()
