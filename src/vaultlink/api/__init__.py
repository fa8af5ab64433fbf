"""vaultlink.api."""
