"""The one-second cache of anonymous KB pages: who gets replayed bytes and who never does."""

from __future__ import annotations

from sqlalchemy import update

from core.app_state import state
from core.kb import microcache
from core.kb.models import KbArticle
from core.kb.service import runtime, save_article
from tests.kb.helpers import make_article


def rename_behind_the_back(app, title: str) -> None:
    """Change a title the way another node would: no local cache invalidation."""
    with state(app).db.session() as s:
        s.execute(update(KbArticle).values(title=title))


def test_anonymous_page_is_replayed_without_cookie_and_with_security_headers(plugdesk_app):
    article = make_article(plugdesk_app, title="Original")
    url = f"/kb/{article.id}/{article.slug}"
    anon = plugdesk_app.test_client(use_cookies=False)
    first = anon.get(url)
    assert "Set-Cookie" not in first.headers  # anonymous readers never get a session
    rename_behind_the_back(plugdesk_app, "Renamed elsewhere")
    second = anon.get(url)
    assert "Original" in second.get_data(as_text=True)  # replayed
    assert "Set-Cookie" not in second.headers
    assert second.headers["Content-Security-Policy"] == first.headers["Content-Security-Policy"]
    assert second.headers["X-Content-Type-Options"] == "nosniff"
    runtime(state(plugdesk_app)).page_cache.clear()
    assert "Renamed elsewhere" in anon.get(url).get_data(as_text=True)


def test_entries_expire_and_local_writes_invalidate(plugdesk_app, monkeypatch):
    article = make_article(plugdesk_app, title="Before")
    anon = plugdesk_app.test_client(use_cookies=False)
    assert b"Before" in anon.get("/kb").data
    save_article(state(plugdesk_app), article_id=article.id, title="After", body_html="<p>x</p>", published=True)
    assert b"After" in anon.get("/kb").data
    rename_behind_the_back(plugdesk_app, "Elsewhere")
    assert b"After" in anon.get("/kb").data
    monkeypatch.setattr(microcache, "TTL", 0.0)
    assert b"Elsewhere" in anon.get("/kb").data


def test_personal_requests_always_reach_flask(plugdesk_app, login_as):
    article = make_article(plugdesk_app, title="Shared")
    url = f"/kb/{article.id}/{article.slug}"
    plugdesk_app.test_client(use_cookies=False).get(url)  # fill the cache
    rename_behind_the_back(plugdesk_app, "Fresh")
    user, _ = login_as(plugdesk_app, "user")
    assert b"Fresh" in user.get(url).data  # a session with a user
    voter = plugdesk_app.test_client()
    voter.set_cookie("plugdesk_kbv", "x" * 40)
    assert b"Fresh" in voter.get(url).data  # "you already rated" depends on this cookie
    tampered = plugdesk_app.test_client()
    tampered.set_cookie("plugdesk_session", "garbage.value.sig")
    assert b"Fresh" in tampered.get(url).data
    anon = plugdesk_app.test_client(use_cookies=False)
    assert b"Fresh" in anon.get(url, headers={"Authorization": "Bearer x"}).data
    assert b"Fresh" in anon.get(url, headers={"If-None-Match": '"x"'}).data
    assert b"Shared" in anon.get(url).data
    browser = plugdesk_app.test_client()  # a browser whose session only holds its CSRF secret
    browser.get("/login")
    assert b"Shared" in browser.get(url).data


def test_only_200_responses_of_kb_paths_are_kept(plugdesk_app):
    anon = plugdesk_app.test_client(use_cookies=False)
    assert anon.get("/kb/999/x").status_code == 404
    make_article(plugdesk_app, title="Now exists")  # id 1
    assert anon.get("/kb/1/now-exists").status_code == 200
    anon.get("/login")
    cache = runtime(state(plugdesk_app)).page_cache
    assert {key[1] for key in cache} == {"/kb/1/now-exists"}
