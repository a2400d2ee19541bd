"""App-level shared code, imported absolutely (the worker puts the app folder on sys.path)."""

PREFIX = "shared"
