"""KB bodies are inert whatever is submitted (on save and on render); portal and management pages work."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from core.app_state import state
from core.kb.models import KbArticle
from core.kb.sanitize import remote_images_to_links, sanitize_html
from core.testing import create_user
from tests.kb.helpers import csrf, make_article, token_for

BAD = {
    "script tag": ('<p>ok</p><script>alert(1)</script>', ["<script", "alert(1)"]),
    "onerror": ('<img src="/x.png" onerror="alert(1)">', ["onerror", "alert"]),
    "javascript url": ('<a href="javascript:alert(1)">x</a>', ["javascript:"]),
    "javascript url obfuscated": ('<a href="jav&#x09;ascript:alert(1)">x</a><a href=" JaVaScRiPt:alert(2)">y</a>',
                                  ["ascript:", "alert"]),
    "data url": ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a><img src="data:image/svg+xml,<svg onload=a()>">',
                 ["data:", "onload"]),
    "svg with script": ('<svg><script>alert(1)</script><a xlink:href="javascript:x()">s</a></svg>',
                        ["<svg", "<script", "alert", "javascript:"]),
    "css expression": ('<p style="width: expression(alert(1))">x</p><style>p{x:expression(alert(2))}</style>',
                       ["expression", "style"]),
    "event handler on any tag": ('<div onclick="steal()" onmouseover="x()">d</div>', ["onclick", "onmouseover"]),
    "iframe and object": ('<iframe src="https://evil.example"></iframe><object data="x.swf"></object>',
                          ["<iframe", "<object", "evil.example"]),
    "vbscript": ('<a href="vbscript:msgbox(1)">v</a>', ["vbscript"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_sanitizer_makes_bad_input_inert(name):
    raw, forbidden = BAD[name]
    clean = sanitize_html(raw)
    for needle in forbidden:
        assert needle.lower() not in clean.lower(), (name, clean)
    assert sanitize_html(clean) == clean  # idempotent: safe to run on save and on render


def test_sanitizer_keeps_ordinary_rich_text():
    html = ('<h2>Steps</h2><ol><li><a href="https://example.com/a">link</a></li></ol><pre><code>x = 1</code></pre>'
            '<table><tr><td>cell</td></tr></table><img src="/static/x.png" alt="x">')
    clean = sanitize_html(html)
    for keep in ("<h2>", "<ol>", 'href="https://example.com/a"', "<code>", "<td>", 'src="/static/x.png"'):
        assert keep in clean
    assert 'rel="noopener noreferrer nofollow"' in clean


def test_remote_images_become_links_local_ones_stay():
    html = sanitize_html('<img src="http://unreachable.invalid/a.png" alt="Diagram"><img src="/local.png">'
                         '<img src="https://help.example.com/b.png">')
    out = remote_images_to_links(html, {"help.example.com"})
    assert '<a href="http://unreachable.invalid/a.png"' in out and "Image: Diagram" in out
    assert '<img src="/local.png">' in out and 'src="https://help.example.com/b.png"' in out


@pytest.mark.parametrize("name", list(BAD))
def test_bad_body_is_inert_on_save_render_api_and_feed(plugdesk_app, name):
    raw, forbidden = BAD[name]
    article = make_article(plugdesk_app, title=f"Article {name}", body=raw)
    with state(plugdesk_app).db.session() as s:
        stored = s.get(KbArticle, article.id).body_html
    client = plugdesk_app.test_client()
    page = client.get(f"/kb/{article.id}/{article.slug}").get_data(as_text=True)
    api = client.get(f"/api/v1/kb/articles/{article.id}").get_json()["body_html"]
    feed = client.get("/rss/kb/newest").get_data(as_text=True)
    body_part = page.split('class="kb-body">', 1)[1].split("</article>", 1)[0]
    for needle in forbidden:
        assert needle.lower() not in stored.lower()
        assert needle.lower() not in body_part.lower()
        assert needle.lower() not in api.lower()
    assert "<script" not in feed.lower()  # the description is escaped and sanitized


def test_rows_written_unsanitized_are_still_rendered_inert(plugdesk_app):
    """Sanitizing on render protects against rows written by older versions or by hand."""
    article = make_article(plugdesk_app, title="Legacy")
    with state(plugdesk_app).db.session() as s:
        s.execute(update(KbArticle).where(KbArticle.id == article.id).values(
            body_html='<p>hi</p><script>alert(1)</script><img src=x onerror=alert(2)><a href="javascript:x">j</a>'))
    client = plugdesk_app.test_client()
    page = client.get(f"/kb/{article.id}/{article.slug}").get_data(as_text=True)
    body_part = page.split('class="kb-body">', 1)[1].split("</article>", 1)[0]
    assert "<p>hi</p>" in body_part
    for needle in ("<script", "onerror", "javascript:"):
        assert needle not in body_part
    assert "javascript:" not in client.get(f"/api/v1/kb/articles/{article.id}").get_data(as_text=True)


def test_browse_categories_read_and_drafts(plugdesk_app, login_as):
    from core.kb.service import create_category

    st = state(plugdesk_app)
    parent = create_category(st, "Accounts")
    child = create_category(st, "Passwords", parent.id)
    published = make_article(plugdesk_app, title="Reset a password", category_id=child.id)
    draft = make_article(plugdesk_app, title="Secret draft", published=False, category_id=child.id)
    anon = plugdesk_app.test_client()
    index = anon.get("/kb").get_data(as_text=True)
    assert "Accounts" in index and "Passwords" in index and "Reset a password" in index
    assert "Secret draft" not in index
    cat = anon.get(f"/kb/category/{parent.id}").get_data(as_text=True)  # articles of subcategories too
    assert "Reset a password" in cat and "Passwords" in cat and "Secret draft" not in cat
    assert anon.get(f"/kb/category/{child.id}").status_code == 200
    assert anon.get("/kb/category/9999").status_code == 404
    assert anon.get(f"/kb/{published.id}/wrong-slug").status_code == 301
    assert anon.get(f"/kb/{draft.id}/{draft.slug}").status_code == 404
    assert anon.get(f"/api/v1/kb/articles/{draft.id}").status_code == 404
    agent, _ = login_as(plugdesk_app, "agent")
    assert agent.get(f"/kb/{draft.id}/{draft.slug}").status_code == 200
    user, _ = login_as(plugdesk_app, "user")
    assert user.get(f"/kb/{draft.id}/{draft.slug}").status_code == 404
    assert user.get("/manage/kb/").status_code == 403


def test_editor_preview_save_publish_delete(plugdesk_app, login_as):
    agent, _ = login_as(plugdesk_app, "agent")
    page = agent.get("/manage/kb/new").get_data(as_text=True)
    token = csrf(page)
    body = '<p>Hello</p><script>alert(1)</script>'
    r = agent.post("/manage/kb/new", data={"csrf_token": token, "title": "Printer setup", "body_html": body,
                                           "action": "preview"})
    assert r.status_code == 200 and "Preview (not saved)" in r.get_data(as_text=True)
    assert "<script>alert" not in r.get_data(as_text=True).split("Preview (not saved)")[1]
    assert plugdesk_app.test_client().get("/api/v1/kb/articles").get_json()["total"] == 0
    r = agent.post("/manage/kb/new", data={"csrf_token": token, "title": "", "body_html": body, "action": "save"})
    assert r.status_code == 400 and "Give the article a title" in r.get_data(as_text=True)
    r = agent.post("/manage/kb/new", data={"csrf_token": token, "title": "Printer setup", "body_html": body,
                                           "action": "save"})
    assert r.status_code == 302
    article_id = int(r.headers["Location"].split("/")[-2])
    anon = plugdesk_app.test_client()
    assert anon.get("/api/v1/kb/articles").get_json()["total"] == 0  # saved as a draft
    r = agent.post(f"/manage/kb/{article_id}/publish", data={"csrf_token": token, "publish": "1"})
    assert r.status_code == 302
    listed = anon.get("/api/v1/kb/articles").get_json()
    assert listed["total"] == 1 and listed["items"][0]["body_html"] == "<p>Hello</p>"
    assert listed["items"][0]["published_at"].endswith("Z")
    assert listed["items"][0]["url"] == f"http://127.0.0.1:8080/kb/{article_id}/printer-setup"
    assert "Printer setup" in agent.get("/manage/kb/").get_data(as_text=True)
    assert agent.post(f"/manage/kb/{article_id}/delete", data={"csrf_token": token}).status_code == 302
    assert anon.get(f"/api/v1/kb/articles/{article_id}").status_code == 404
    assert agent.post(f"/manage/kb/{article_id}/delete", data={"csrf_token": "bad"}).status_code == 400


def test_api_create_patch_delete_and_openapi(plugdesk_app):
    agent = create_user(plugdesk_app, "agent")
    user = create_user(plugdesk_app, "user")
    client = plugdesk_app.test_client()
    h = token_for(plugdesk_app, agent)
    assert client.post("/api/v1/kb/articles", json={"title": "x"}, headers=token_for(plugdesk_app, user)
                       ).status_code == 403
    r = client.post("/api/v1/kb/articles", json={"title": "VPN", "body_html": "<p onclick=x()>v</p>",
                                                 "published": True}, headers=h)
    assert r.status_code == 201 and r.get_json()["body_html"] == "<p>v</p>"
    aid = r.get_json()["id"]
    r = client.post("/api/v1/kb/articles", json={"title": 5}, headers=h)
    assert r.status_code == 422 and r.headers["Content-Type"].startswith("application/problem+json")
    r = client.patch(f"/api/v1/kb/articles/{aid}", json={"title": "VPN setup", "category_id": None}, headers=h)
    assert r.status_code == 200 and r.get_json()["title"] == "VPN setup" and r.get_json()["body_html"] == "<p>v</p>"
    assert client.patch(f"/api/v1/kb/articles/{aid}", json={"category_id": 999}, headers=h).status_code == 422
    assert client.get("/api/v1/kb/articles?limit=abc").status_code == 400
    assert client.get("/api/v1/kb/articles?q=vpn").get_json()["total"] == 1
    assert client.delete(f"/api/v1/kb/articles/{aid}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/kb/articles/{aid}", headers=h).status_code == 404
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in [("/api/v1/kb/articles", "get"), ("/api/v1/kb/articles/{article_id}", "get"),
                         ("/api/v1/kb/articles/{article_id}/feedback", "post"),
                         ("/api/v1/community/threads", "post"),
                         ("/api/v1/community/threads/{thread_id}/replies", "post"),
                         ("/api/v1/moderation/queue", "get"), ("/api/v1/moderation/{post_id}/approve", "post"),
                         ("/api/v1/moderation/{post_id}/reject", "post")]:
        assert method in paths[path], path
