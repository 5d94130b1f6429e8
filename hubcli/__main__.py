"""`python -m hubcli` runs the CLI."""

from hubcli.cli.app import main

if __name__ == "__main__":
    main()
