"""vivavoce: a voice assistant for code editors, as a language server."""

__version__ = "0.1.0"
