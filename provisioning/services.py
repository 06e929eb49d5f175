"""Every state transition of a request or an environment goes through here."""
