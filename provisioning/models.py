"""Environment templates, requests, runs and environments (the provisioning issue)."""
