"""Hostile JSON never reaches a view as a 500: request bodies are parsed strictly.

* Request JSON is parsed by pydantic-core's parser instead of :mod:`json`: lone surrogates (``"\\ud800"``),
  nesting deeper than 200 levels and control characters inside strings are refused with ``ValueError``,
  which Flask turns into a 400 (``get_json(silent=True)`` returns ``None``). :mod:`json` would accept the
  surrogate (a later ``UnicodeEncodeError``) and raise ``RecursionError`` on ``[`` x 100000.
* ``<int:...>`` URL segments above :data:`core.schema.MAX_ID` are answered 404 by ``core.web.errors``.
"""

from __future__ import annotations

from typing import Any

import pydantic_core
from flask import Flask
from flask.json.provider import DefaultJSONProvider


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with a parser that refuses what Python's :mod:`json` lets through."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """Parse ``s``; raise ``ValueError`` for invalid JSON, lone surrogates and excessive nesting.

        Calls with options (the session serializer's ``object_hook``) keep Flask's own parser: that data
        was signed by this server.
        """
        if kwargs:
            return super().loads(s, **kwargs)
        try:
            return pydantic_core.from_json(s)
        except RecursionError:  # belt and braces: the parser has its own depth limit
            raise ValueError("JSON nested too deeply") from None


def install(app: Flask) -> None:
    """Parse request JSON with :class:`StrictJSONProvider`."""
    app.json = StrictJSONProvider(app)
