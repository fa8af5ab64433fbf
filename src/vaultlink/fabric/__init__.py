"""vaultlink.fabric."""
