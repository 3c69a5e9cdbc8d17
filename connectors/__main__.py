"""`python -m connectors` runs the `connector` command."""

from connectors.cli import main

main()
