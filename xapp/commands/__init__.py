"""``linkadapt`` subcommands of the service (see linkadapt/cli.py)."""
