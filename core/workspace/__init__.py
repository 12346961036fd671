"""The agent workspace: the ticket page as a conversation with a sidebar, canned responses, shortcuts.

* :mod:`.context` - what the conversation view shows besides the messages (customer, their other tickets,
  next ticket, history in sentences, canned responses filled in for the ticket).
* :mod:`.canned` - canned responses per department with placeholders (``{customer_name}``, ...).
* :mod:`.web` - Management › Canned responses (managers and admins); inline changes' JSON answer.
* ``static/workspace.js`` - keyboard shortcuts (``r`` reply, ``n`` next ticket, ``q`` queue, Ctrl+Enter
  send), canned-response insertion, inline status/department/assignee changes.
"""

from __future__ import annotations

from flask import Flask


def install(app: Flask) -> None:
    """Register Management › Canned responses on ``app``."""
    from core.workspace import web

    app.register_blueprint(web.bp)
