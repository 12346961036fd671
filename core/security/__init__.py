"""Security mechanisms: the Security settings, headers, client address, password rules."""
