"""Azure Resource Manager for the unmodified azure-mgmt-* SDKs (issue #20): ``front.py`` answers ARM
requests, ``routes.py`` lists what it serves, ``lro.py`` runs long-running operations as ARM does."""
