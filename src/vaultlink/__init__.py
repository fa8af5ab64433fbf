"""vaultlink: backups reached through private endpoints, private DNS and endpoint policies."""

__version__ = "0.1.0"
