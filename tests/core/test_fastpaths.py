"""Memoised ``url_for`` and versioned static files (issue 22)."""

from __future__ import annotations

import re

from flask import Flask, url_for


def test_url_for_memo_gives_flasks_answers(plugdesk_app: Flask) -> None:
    with plugdesk_app.test_request_context("/kb", base_url="http://desk.example/sub"):
        first = [url_for("kb.article", article_id=5, slug="x"), url_for("kb.index"), url_for(".index"),
                 url_for("kb.search", q="a b", page=2), url_for("kb.index", _external=True),
                 url_for("kb.index", _anchor="top")]
        assert first == [url_for("kb.article", article_id=5, slug="x"), url_for("kb.index"), url_for(".index"),
                         url_for("kb.search", q="a b", page=2), url_for("kb.index", _external=True),
                         url_for("kb.index", _anchor="top")]
        assert first[0] == "/sub/kb/5/x" and first[4] == "http://desk.example/sub/kb" and first[5] == "/sub/kb#top"
        assert url_for("kb.search", q=["a", "b"]) == "/sub/kb/search?q=a&q=b"  # unhashable: straight to Flask
    with plugdesk_app.test_request_context("/kb", base_url="http://other.example/"):
        assert url_for("kb.index") == "/kb"  # another script root is another key


def test_static_files_get_a_hash_and_a_long_max_age(plugdesk_app: Flask) -> None:
    client = plugdesk_app.test_client()
    page = client.get("/login").get_data(as_text=True)
    css = re.search(r'href="(/static/plugdesk\.css\?v=[0-9a-f]{12})"', page).group(1)
    versioned = client.get(css)
    assert versioned.status_code == 200 and versioned.cache_control.max_age == 365 * 24 * 3600
    plain = client.get("/static/plugdesk.css")
    assert plain.status_code == 200 and plain.cache_control.max_age is None
    stale = client.get("/static/plugdesk.css?v=000000000000")
    assert stale.cache_control.max_age is None
