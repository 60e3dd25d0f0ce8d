"""blockhook's command line: talks to the REST API over HTTP, never imports the server's package."""

__version__ = "0.1.0"
