"""The ``sceau`` command line: thin Typer commands over the use cases."""
