"""`python -m hubcli` runs the CLI."""

from hubcli.cli.app import run

if __name__ == "__main__":
    run()
