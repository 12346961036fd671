"""KB pages answer ``If-None-Match`` with 304 for anonymous and logged-in readers (issue 22)."""

from __future__ import annotations

from flask import Flask

from core.app_state import state
from core.kb.conditional import page_etag
from core.kb.service import save_article
from tests.kb.helpers import make_article
from tests.perf.test_sql_budgets import _login


def test_anonymous_reader_revalidates(plugdesk_app: Flask) -> None:
    a = make_article(plugdesk_app)
    client = plugdesk_app.test_client()
    first = client.get(f"/kb/{a.id}/{a.slug}")
    assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
    again = client.get(f"/kb/{a.id}/{a.slug}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.get_data()
    assert again.headers["X-Frame-Options"] == "SAMEORIGIN"  # security headers on the 304 too


def test_logged_in_reader_gets_private_revalidation_and_changes_show(plugdesk_app: Flask) -> None:
    from core.testing import create_user

    a = make_article(plugdesk_app)
    reader = create_user(plugdesk_app, "user")
    client = _login(plugdesk_app, reader)
    url = f"/kb/{a.id}/{a.slug}"
    first = client.get(url)
    assert first.headers["Cache-Control"] == "private, no-cache"
    assert 'name="csrf_token"' in first.get_data(as_text=True)  # a token on the page, masked for the validator
    assert client.get(url, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    with plugdesk_app.app_context():
        save_article(state(plugdesk_app), article_id=a.id, title=a.title, body_html="<p>New text</p>",
                     published=True)
    changed = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert changed.status_code == 200 and "New text" in changed.get_data(as_text=True)
    other = plugdesk_app.test_client().get(url)
    assert other.headers["ETag"] != changed.headers["ETag"]  # the anonymous page differs (no name, no form)


def test_validator_ignores_tokens_but_not_content_or_the_hour() -> None:
    page = b'<form><input name="csrf_token" type="hidden" value="AAA.1"><p>x</p></form>'
    other_token = page.replace(b"AAA.1", b"BBB.2")
    assert page_etag(page, 7200.0) == page_etag(other_token, 7300.0)
    assert page_etag(page, 7200.0) != page_etag(page.replace(b"<p>x", b"<p>y"), 7200.0)
    assert page_etag(page, 7200.0) != page_etag(page, 7200.0 + 3600)
