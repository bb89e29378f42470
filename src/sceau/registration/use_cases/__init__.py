"""One module per use case; every adapter (CLI, API, portal, worker) calls these."""
