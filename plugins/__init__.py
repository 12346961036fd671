"""plugdesk's built-in plugins. Each sub-package uses only the public hook contract."""
