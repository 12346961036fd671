"""How the ticket pages answer a form action: missing tickets are 404, other refusals are flashed."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash

from core.tickets.service import TicketProblem


def attempt(action: Callable[[], object], success: str) -> bool:
    """Run a ticket action for a web form; flash ``success`` or the refusal. ``True`` when it worked."""
    try:
        action()
    except TicketProblem as exc:
        if exc.status == 404:
            abort(404)
        flash(exc.message, "error")
        return False
    flash(success, "success")
    return True
