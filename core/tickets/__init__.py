"""Tickets and departments: models, rules, portal/management pages, API, bulk operations for retention.

Importing this package registers the ticket tables on ``Base.metadata``.
"""

from core.tickets import models  # noqa: F401 - registers the tables

__all__ = ["models"]
