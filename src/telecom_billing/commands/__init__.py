"""One module per `telecom` subcommand (see cli.py)."""
