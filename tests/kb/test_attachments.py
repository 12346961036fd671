"""KB files go through core.files: stored once, readable like their article, references dropped on delete."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from core.app_state import state
from tests.kb.helpers import csrf, make_article

files_models = pytest.importorskip("core.files.models")
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")


@pytest.fixture
def app(plugdesk_app_factory):
    return plugdesk_app_factory(["auth_local", "storage_fs"])


def counts(app):
    with state(app).db.session() as s:
        return (s.scalar(select(func.count()).select_from(files_models.Attachment)),
                s.scalar(select(func.count()).select_from(files_models.Blob)))


def upload(client, article_id, name="diagram.png", data=PNG, published=True):
    page = client.get(f"/manage/kb/{article_id}/edit").get_data(as_text=True)
    form = {"csrf_token": csrf(page), "title": "With files", "body_html": "<p>see</p>", "action": "save",
            "files": (io.BytesIO(data), name), **({"published": "on"} if published else {})}
    return client.post(f"/manage/kb/{article_id}/edit", data=form, content_type="multipart/form-data")


def test_upload_dedup_download_rights_and_delete_drops_references(app, login_as):
    agent, _ = login_as(app, "agent")
    one = make_article(app, title="One")
    two = make_article(app, title="Two", published=False)
    assert upload(agent, one.id).status_code == 302
    assert upload(agent, two.id, "same-bytes.png", published=False).status_code == 302
    assert counts(app) == (2, 1)  # two references, one stored blob
    editor = agent.get(f"/manage/kb/{one.id}/edit").get_data(as_text=True)
    assert "diagram.png" in editor
    page = agent.get(f"/kb/{one.id}/with-files").get_data(as_text=True)
    assert "diagram.png" in page
    with state(app).db.session() as s:
        ids = {a.owner_id: a.id for a in s.scalars(select(files_models.Attachment))}
    reader, _ = login_as(app, "user")
    assert reader.get(f"/attachments/{ids[one.id]}").status_code == 200
    assert reader.get(f"/attachments/{ids[two.id]}").status_code in (403, 404)  # a draft's file
    anonymous = app.test_client()
    assert anonymous.get(f"/attachments/{ids[one.id]}").status_code == 200  # public article: public image
    assert anonymous.get(f"/attachments/{ids[two.id]}").status_code == 404
    token = csrf(editor)
    assert agent.post(f"/manage/kb/{one.id}/delete", data={"csrf_token": token}).status_code == 302
    assert counts(app)[0] == 1


def test_refused_file_keeps_the_article(app, login_as):
    agent, _ = login_as(app, "agent")
    article = make_article(app, title="Exe")
    from tests.kb.helpers import set_setting

    set_setting(app, "security.uploads.agent_extensions", [".png"])
    r = upload(agent, article.id, "tool.exe", b"MZ\x90\x00binary")
    assert r.status_code == 302
    assert "a file was refused" in agent.get(r.headers["Location"]).get_data(as_text=True)
    assert counts(app)[0] == 0
