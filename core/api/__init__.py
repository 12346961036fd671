"""The JSON API under ``/api/v1`` (bearer tokens, problem+json errors, OpenAPI 3.1)."""

from core.api.routes import api_blueprint

__all__ = ["api_blueprint"]
