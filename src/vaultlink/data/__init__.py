"""vaultlink.data."""
