"""Figure `mail_ingest`: messages/s from a real Dovecot into tickets (mail_imap fetch, parse, thread, account,
ticket, original .eml through the files service, commit, ack) vs a raw IMAP FETCH of the same messages over one
IMAPClient connection in the same run (goal >= 0.5)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import alternate, figure

BODY = ("Hello,\n\nsince this morning the export of invoices fails with error 500. Steps: open Billing, choose "
        "March, press Export.\n\nThanks,\nCustomer {i}\n\n-- \nACME Ltd, +1 555 0100\n")


def _messages(n: int, tag: str) -> list[bytes]:
    from email.message import EmailMessage

    out = []
    for i in range(n):
        msg = EmailMessage()
        msg["From"], msg["To"] = f"Customer {i} <c{i}.{tag}@example.com>", "support@help.example"
        msg["Subject"], msg["Message-ID"] = f"Export fails ({i})", f"<{tag}.{i}.{time.time_ns()}@example.com>"
        msg.set_content(BODY.format(i=i))
        msg.add_alternative(f"<p>{BODY.format(i=i)}</p>", subtype="html")
        out.append(msg.as_bytes().replace(b"\n", b"\r\n"))
    return out


def _raw_fetch(server: Any, user: str, n: int) -> float:
    """Messages/s: log in, select, search, FETCH BODY.PEEK[] in chunks of 25 (what mail_imap does), no parsing."""
    import ssl

    from imapclient import IMAPClient

    t0 = time.perf_counter()
    client = IMAPClient("127.0.0.1", port=server.tls_port, ssl=True,
                        ssl_context=ssl.create_default_context(cafile=server.ca))
    client.login(user, server.users[user])
    client.select_folder("INBOX", readonly=True)
    uids = sorted(client.search(["ALL"]))
    got = 0
    for start in range(0, len(uids), 25):
        got += sum(1 for d in client.fetch(uids[start:start + 25], ["BODY.PEEK[]"]).values() if d.get(b"BODY[]"))
    client.logout()
    elapsed = time.perf_counter() - t0
    if got != n:
        raise RuntimeError(f"raw fetch got {got} of {n}")
    return n / elapsed


def _ingest(make_app: Any, server: Any, n: int) -> float:
    """Messages/s: a fresh mailbox and app (not timed), then polls until every message is a ticket."""
    from core.inbound.poll import poll_source, sources

    user = server.add_user()
    server.append(user, *_messages(n, user))
    app = make_app(user)
    state = app.extensions["plugdesk"]
    source = sources(state)[0]
    t0 = time.perf_counter()
    done = 0
    while done < n:
        counts = poll_source(state, source)
        if not counts:
            raise RuntimeError(f"ingested {done} of {n}")
        done += counts.get("ticket", 0)
    elapsed = time.perf_counter() - t0
    source.close()
    return n / elapsed


def mail_ingest(quick: bool) -> dict[str, Any]:
    """The ingest rate vs raw FETCH, alternating rounds against the same Dovecot."""
    from core.testing import make_test_app
    from tests.inbound_mail import add_department
    from tests.plugins.mail_imap.dovecot import make_dovecot, remove
    from tests.realservers import make_certs

    rounds, n = (2, 100) if quick else (5, 300)
    work = Path(tempfile.mkdtemp(prefix="plugdesk-bench-mail-"))
    server = make_dovecot(make_certs(work / "certs"))
    counter = iter(range(1000))

    def make_app(user: str) -> Any:
        table = {"name": user, "host": "127.0.0.1", "port": server.tls_port, "ca_file": server.ca,
                 "username": user, "password": server.users[user], "department": "General"}
        app = make_test_app(work / f"app{next(counter)}", ["auth_local", "storage_fs", "mail_imap"],
                            overrides={"plugins": {"mail_imap": {"mailboxes": [table]}},
                                       "inbound": {"batch_size": 1000}})
        add_department(app)
        return app

    try:
        fixed = server.add_user()  # the raw baseline reads the same kind of messages, read-only, every round
        server.append(fixed, *_messages(n, fixed))
        _raw_fetch(server, fixed, n)  # warm up
        ingested, raw = alternate(lambda: _ingest(make_app, server, n), lambda: _raw_fetch(server, fixed, n),
                                  rounds)
    finally:
        remove(server)
    return figure("mail_ingest", ingested, raw, ">= 0.5", "msg/s",
                  f"{n} messages (text + HTML) per round in a fresh mailbox, SQLite + storage_fs: fetch over IMAPS, "
                  "parse, new email-only account, ticket, message.eml through the files service, commit, flag "
                  "seen - vs IMAPClient FETCH BODY.PEEK[] of the same number of messages (no parsing), same Dovecot")


#: ``python -m benchmarks --only mail_ingest``.
FIGURES = {"mail_ingest": mail_ingest}


def figures(quick: bool) -> list[dict[str, Any]]:
    """The one figure of this module."""
    return [mail_ingest(quick)]
