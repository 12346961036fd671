"""Server-rendered pages: the portal, the management interface, error pages and response headers."""
