"""The KB editor: Markdown rendered by markdown-it-py and sanitized by the nh3 policy (live preview and save
alike), HTML articles still editable, images uploaded into the body, ``updated_at`` only moves on change."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import select

from core.app_state import state
from core.kb.markdown import render_markdown
from core.kb.models import KbArticle
from tests.kb.helpers import csrf, make_article, token_for

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7V\xbd\xfa\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def app(plugdesk_app_factory):
    return plugdesk_app_factory(["auth_local", "storage_fs"])


def article(app, article_id):
    with state(app).db.session() as s:
        return s.get(KbArticle, article_id)


def test_markdown_is_rendered_then_sanitized():
    html = render_markdown("# Steps\n\n1. **Open** it\n\n| a |\n|---|\n| 1 |\n\n~~old~~ [bad](javascript:alert(1))"
                           "\n\n<script>x()</script>\n\n<img src=x onerror=alert(1)>")
    assert "<h1>Steps</h1>" in html and "<strong>Open</strong>" in html and "<table>" in html
    assert "<s>old</s>" in html and "<script" not in html and "onerror" not in html
    assert 'href="javascript' not in html


def test_live_preview_endpoint(app, login_as):
    agent, _ = login_as(app, "agent")
    token = csrf(agent.get("/manage/kb/new").get_data(as_text=True))
    r = agent.post("/manage/kb/preview", data={"csrf_token": token, "body": "*hi* <script>x</script>",
                                              "format": "markdown"})
    assert r.get_json() == {"html": "<p><em>hi</em> </p>"}
    r = agent.post("/manage/kb/preview", data={"csrf_token": token, "body": "<p onclick=x>p</p>", "format": "html"})
    assert r.get_json() == {"html": "<p>p</p>"}
    assert agent.post("/manage/kb/preview", data={"csrf_token": "bad", "body": "x"}).status_code == 400
    user, _ = login_as(app, "user")
    own = csrf(user.get("/profile").get_data(as_text=True))
    assert user.post("/manage/kb/preview", data={"csrf_token": own, "body": "x"}).status_code == 403


def test_markdown_article_saves_and_edits_as_markdown(app, login_as):
    agent, _ = login_as(app, "agent")
    page = agent.get("/manage/kb/new").get_data(as_text=True)
    assert '<option value="markdown" selected>' in page and "kb-editor.js" in page
    r = agent.post("/manage/kb/new", data={"csrf_token": csrf(page), "title": "Printer", "format": "markdown",
                                           "body": "## Setup\n\nPress **on**.", "action": "save",
                                           "published": "on"})
    article_id = int(r.headers["Location"].split("/")[-2])
    saved = article(app, article_id)
    assert saved.body_format == "markdown" and saved.body_source == "## Setup\n\nPress **on**."
    assert saved.body_html == "<h2>Setup</h2>\n<p>Press <strong>on</strong>.</p>"
    editor = agent.get(f"/manage/kb/{article_id}/edit").get_data(as_text=True)
    assert "## Setup" in editor and '<option value="markdown" selected>' in editor
    assert "<h2>Setup</h2>" in app.test_client().get(f"/kb/{article_id}").get_data(as_text=True) or \
        app.test_client().get(f"/kb/{article_id}").status_code == 301
    # an API PATCH of the title keeps the Markdown source; one of the body makes it HTML
    headers = token_for(app, _)
    assert app.test_client().patch(f"/api/v1/kb/articles/{article_id}", json={"title": "Printers"},
                                   headers=headers).status_code == 200
    assert article(app, article_id).body_format == "markdown"
    app.test_client().patch(f"/api/v1/kb/articles/{article_id}", json={"body_html": "<p>new</p>"}, headers=headers)
    assert (article(app, article_id).body_format, article(app, article_id).body_html) == ("html", "<p>new</p>")


def test_html_articles_stay_html_and_unchanged_saves_keep_updated_at(app, login_as):
    agent, _ = login_as(app, "agent")
    old = make_article(app, title="Legacy", body="<p>Old <b>HTML</b></p>")
    editor = agent.get(f"/manage/kb/{old.id}/edit").get_data(as_text=True)
    assert '<option value="html" selected>' in editor and "&lt;p&gt;Old &lt;b&gt;HTML&lt;/b&gt;&lt;/p&gt;" in editor
    before = article(app, old.id).updated_at
    r = agent.post(f"/manage/kb/{old.id}/edit", data={"csrf_token": csrf(editor), "title": "Legacy",
                                                      "format": "html", "body": "<p>Old <b>HTML</b></p>",
                                                      "published": "on", "action": "save"})
    assert r.status_code == 302
    assert article(app, old.id).updated_at == before and article(app, old.id).body_format == "html"


def test_images_are_uploaded_into_the_body_at_the_cursor(app, login_as):
    agent, _ = login_as(app, "agent")
    page = agent.get("/manage/kb/new").get_data(as_text=True)
    r = agent.post("/manage/kb/new", data={
        "csrf_token": csrf(page), "title": "With a picture", "format": "markdown", "body": "Before.\nAfter.",
        "cursor": "7", "action": "image", "images": (io.BytesIO(PNG), "screen shot.png")},
        content_type="multipart/form-data")
    assert r.status_code == 302 and r.headers["Location"].endswith("/edit#body")
    with state(app).db.session() as s:
        saved = s.scalars(select(KbArticle)).one()
    match = re.fullmatch(r"Before\.\n\n!\[screen shot\]\((/attachments/\d+)\)\n\nAfter\.", saved.body_source)
    assert match, saved.body_source
    assert f'<img src="{match.group(1)}" alt="screen shot">' in saved.body_html
    assert app.test_client().get(match.group(1)).status_code == 404  # a draft's image is not public yet
    r = agent.post(f"/manage/kb/{saved.id}/edit", data={
        "csrf_token": csrf(page), "title": "With a picture", "format": "markdown", "body": saved.body_source,
        "action": "image", "images": (io.BytesIO(b"MZ not an image"), "tool.exe")},
        content_type="multipart/form-data", follow_redirects=True)
    assert "no image was added" in r.get_data(as_text=True)
