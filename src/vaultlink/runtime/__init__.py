"""The process: the DNS responder's life inside ``vaultlink serve`` (listeners live in ``fabric.listeners``)."""
