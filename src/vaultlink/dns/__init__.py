"""vaultlink.dns."""
