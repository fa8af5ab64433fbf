"""vaultlink.adapters."""
