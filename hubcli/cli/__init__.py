"""The command-line interface: Typer commands that parse flags, call the library and render."""
