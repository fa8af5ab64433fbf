"""vaultlink.cli."""
