"""vaultlink.agent."""
