"""vaultlink.domain."""
