"""vaultlink.service."""
