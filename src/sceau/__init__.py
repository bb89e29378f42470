"""sceau: certificate authority and lifecycle platform for IGC-Santé-style ORG certificates."""

__version__ = "0.1.0"
