"""The ``quantdesk`` command line (Typer + Rich), a thin layer over the Python API."""
