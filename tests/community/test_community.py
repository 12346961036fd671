"""Community threads and replies: sanitizing, moderation votes, visibility, queue, edit window, delete, captcha."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from core import hookimpl
from core.app_state import state
from core.community.models import CommunityPost
from core.community.service import EDIT_WINDOW
from core.moderation import combine
from core.testing import create_user, deliver_mail
from core.types import CaptchaProvider, CaptchaVerdict, Verdict, VerdictAction
from tests.kb.helpers import csrf, set_setting, token_for


class Votes:
    """A moderation plugin with a fixed vote."""

    def __init__(self, verdict):
        self.verdict = verdict

    @hookimpl
    def moderation_check(self, author, post):
        return self.verdict


class Boom:
    @hookimpl
    def moderation_check(self, author, post):
        raise RuntimeError("plugin bug")


class FixedCaptcha(CaptchaProvider):
    name = "fixed"

    def render(self, purpose):
        return '<label for="captcha_answer">6 × 7 =</label><input id="captcha_answer" name="captcha_answer">'

    def verify(self, form, purpose, remote_addr):
        return CaptchaVerdict(ok=form.get("captcha_answer") == "42", reason="wrong")


class CaptchaPlugin:
    @hookimpl
    def captcha_providers(self):
        return {"fixed": FixedCaptcha()}


@pytest.fixture
def app(plugdesk_app_factory):
    return plugdesk_app_factory(["auth_local", "moderation_newusers"])


def api(app, user):
    return app.test_client(), token_for(app, user)


def test_combine_strongest_wins_and_keeps_every_reason():
    d = combine([("a", Verdict.allow("looks fine")), ("b", None), ("c", Verdict.hold("new user")),
                 ("d", Verdict.reject("spam link")), ("e", Verdict.hold("links"))])
    assert d.action is VerdictAction.REJECT
    assert d.reasons == [("a", "looks fine"), ("c", "new user"), ("d", "spam link"), ("e", "links")]
    assert combine([]).action is VerdictAction.ALLOW
    assert combine([("a", Verdict.allow()), ("b", None)]).action is VerdictAction.ALLOW
    assert combine([("x", "garbage")]).action is VerdictAction.HOLD  # a wrong return value never publishes


def test_thread_and_reply_are_sanitized_and_published_when_nobody_objects(app):
    user = create_user(app, "user")
    c, h = api(app, user)
    r = c.post("/api/v1/community/threads", json={
        "title": "Help <b>please</b>", "body_html": '<p onclick="x()">Hi</p><script>alert(1)</script>'
        '<a href="javascript:alert(1)">j</a><svg><script>a()</script></svg><p style="x:expression(a())">s</p>'
        '<img src="data:image/png;base64,AAAA" onerror="y()">'}, headers=h)
    assert r.status_code == 201, r.get_json()
    thread = r.get_json()
    assert thread["status"] == "published" and thread["title"] == "Help <b>please</b>"
    for needle in ("onclick", "<script", "javascript:", "<svg", "expression", "data:", "onerror"):
        assert needle not in thread["body_html"]
    r = c.post(f"/api/v1/community/threads/{thread['id']}/replies", json={"body_html": "<p>Me too</p>"}, headers=h)
    assert r.status_code == 201 and r.get_json()["status"] == "published"
    page = app.test_client().get(f"/community/t/{thread['id']}").get_data(as_text=True)
    assert "Help &lt;b&gt;please&lt;/b&gt;" in page and "Me too" in page and "<script>alert" not in page
    assert c.post("/api/v1/community/threads", json={"title": "", "body_html": "x"}, headers=h).status_code == 422
    assert c.post("/api/v1/community/threads", json={"title": "t", "body_html": "<script>x</script>"},
                  headers=h).status_code == 422
    assert c.post("/api/v1/community/threads", json={"title": "t"}, headers=h).status_code == 422
    assert c.post("/api/v1/community/threads", data="nope", headers=h).status_code == 400
    assert c.post("/api/v1/community/threads/999/replies", json={"body_html": "x"}, headers=h).status_code == 404
    assert app.test_client().post("/api/v1/community/threads", json={"title": "t", "body_html": "b"}).status_code \
        == 401


def test_new_user_is_held_visible_to_author_and_moderators_then_approved(app, login_as):
    set_setting(app, "security.moderate_new_users", True)
    newbie = create_user(app, "user")
    agent = create_user(app, "agent")
    stranger = create_user(app, "user")
    c, h = api(app, newbie)
    r = c.post("/api/v1/community/threads", json={"title": "First post", "body_html": "<p>Hello</p>"}, headers=h)
    post = r.get_json()
    assert r.status_code == 201 and post["status"] == "pending"
    tid = post["id"]
    anon = app.test_client()
    assert anon.get(f"/community/t/{tid}").status_code == 404
    assert anon.get(f"/api/v1/community/threads/{tid}").status_code == 404
    assert "First post" not in anon.get("/community/").get_data(as_text=True)
    assert c.get(f"/api/v1/community/threads/{tid}", headers=token_for(app, stranger)).status_code == 404
    own = c.get(f"/api/v1/community/threads/{tid}", headers=h)
    assert own.status_code == 200 and own.get_json()["status"] == "pending"
    assert c.get(f"/api/v1/community/threads/{tid}", headers=token_for(app, agent)).status_code == 200
    ha = token_for(app, agent)
    assert c.get("/api/v1/moderation/queue", headers=h).status_code == 403
    q = c.get("/api/v1/moderation/queue", headers=ha).get_json()
    assert q["total"] == 1 and q["items"][0]["id"] == tid
    reasons = q["items"][0]["reasons"]
    assert reasons[0]["plugin"] == "moderation_newusers" and "New user" in reasons[0]["reason"]
    r = c.post(f"/api/v1/moderation/{tid}/approve", headers=ha)
    assert r.status_code == 200 and r.get_json()["status"] == "published"
    assert c.post(f"/api/v1/moderation/{tid}/approve", headers=ha).status_code == 409
    assert "First post" in anon.get("/community/").get_data(as_text=True)
    assert anon.get(f"/community/t/{tid}").status_code == 200
    # staff are never held
    r = c.post("/api/v1/community/threads", json={"title": "Staff", "body_html": "<p>x</p>"}, headers=ha)
    assert r.get_json()["status"] == "published"


def test_reject_with_message_drops_visibility_and_mails_the_author(app, login_as):
    set_setting(app, "security.moderate_new_users", True)
    newbie = create_user(app, "user")
    agent = create_user(app, "agent")
    c, h = api(app, newbie)
    tid = c.post("/api/v1/community/threads", json={"title": "Buy cheap", "body_html": "<p>spam</p>"},
                 headers=h).get_json()["id"]
    r = c.post(f"/api/v1/moderation/{tid}/reject", json={"message": "Advertising is not allowed."},
               headers=token_for(app, agent))
    assert r.status_code == 200 and r.get_json()["status"] == "rejected"
    assert r.get_json()["moderator_message"] == "Advertising is not allowed."
    assert c.post(f"/api/v1/moderation/{tid}/reject", json={"message": 5}, headers=token_for(app, agent)
                  ).status_code == 422
    assert app.test_client().get(f"/community/t/{tid}").status_code == 404
    own = c.get(f"/api/v1/community/threads/{tid}", headers=h).get_json()
    assert own["status"] == "rejected"
    assert c.post(f"/api/v1/community/threads/{tid}/replies", json={"body_html": "x"}, headers=h).status_code == 409
    deliver_mail(app)  # no [mail] url: the worker writes .eml files
    outbox = state(app).settings.data_dir / "outbox"
    mails = [p.read_text() for p in outbox.glob("*.eml")]
    assert any("Advertising is not allowed." in m and newbie.email in m for m in mails)


def test_moderation_queue_page_approve_and_reject(app, login_as):
    set_setting(app, "security.moderate_new_users", True)
    newbie = create_user(app, "user")
    c, h = api(app, newbie)
    t1 = c.post("/api/v1/community/threads", json={"title": "One", "body_html": "<p>1</p>"}, headers=h).get_json()
    t2 = c.post("/api/v1/community/threads", json={"title": "Two", "body_html": "<p>2</p>"}, headers=h).get_json()
    agent, _ = login_as(app, "agent")
    page = agent.get("/manage/moderation/").get_data(as_text=True)
    assert "One" in page and "Two" in page and "moderation_newusers" in page and "New user" in page
    token = csrf(page)
    assert agent.post(f"/manage/moderation/{t1['id']}", data={"csrf_token": token, "action": "approve"}
                      ).status_code == 302
    assert agent.post(f"/manage/moderation/{t2['id']}", data={"csrf_token": token, "action": "reject",
                                                              "message": "no"}).status_code == 302
    with state(app).db.session() as s:
        assert {p.title: p.status for p in s.scalars(select(CommunityPost))} == {"One": "published",
                                                                                 "Two": "rejected"}
    user_client, _ = login_as(app, "user")
    assert user_client.get("/manage/moderation/").status_code == 403


def test_plugin_votes_are_combined_and_a_failing_plugin_holds(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local"], extra={"a": Votes(Verdict.allow("ok")),
                                                      "b": Votes(Verdict.reject("banned words"))})
    user = create_user(app)
    c, h = api(app, user)
    r = c.post("/api/v1/community/threads", json={"title": "x", "body_html": "<p>y</p>"}, headers=h)
    assert r.get_json()["status"] == "rejected"
    app2 = plugdesk_app_factory(["auth_local"], extra={"boom": Boom()})
    user2 = create_user(app2)
    c2, h2 = api(app2, user2)
    assert c2.post("/api/v1/community/threads", json={"title": "x", "body_html": "<p>y</p>"},
                   headers=h2).get_json()["status"] == "pending"
    with state(app2).db.session() as s:
        assert "RuntimeError" in s.scalars(select(CommunityPost)).one().reasons[0][1]


def test_edit_window_and_delete_rights(app, login_as):
    author = create_user(app, "user")
    other = create_user(app, "user")
    agent = create_user(app, "agent")
    c, h = api(app, author)
    tid = c.post("/api/v1/community/threads", json={"title": "Edit me", "body_html": "<p>v1</p>"},
                 headers=h).get_json()["id"]
    rid = c.post(f"/api/v1/community/threads/{tid}/replies", json={"body_html": "<p>r</p>"}, headers=h).get_json()["id"]
    r = c.patch(f"/api/v1/community/posts/{tid}", json={"body_html": "<p>v2<script>x</script></p>"}, headers=h)
    assert r.status_code == 200 and r.get_json()["body_html"] == "<p>v2</p>"
    assert c.patch(f"/api/v1/community/posts/{tid}", json={"body_html": "<p>x</p>"},
                   headers=token_for(app, other)).status_code == 403
    with state(app).db.session() as s:
        s.execute(update(CommunityPost).values(created_at=datetime.now(UTC) - EDIT_WINDOW - timedelta(minutes=1)))
    r = c.patch(f"/api/v1/community/posts/{tid}", json={"body_html": "<p>v3</p>"}, headers=h)
    assert r.status_code == 403 and "time to edit" in r.get_json()["detail"]
    assert c.patch(f"/api/v1/community/posts/{tid}", json={"body_html": "<p>by mod</p>"},
                   headers=token_for(app, agent)).status_code == 200
    assert c.delete(f"/api/v1/community/posts/{rid}", headers=token_for(app, other)).status_code == 403
    assert c.delete(f"/api/v1/community/posts/{rid}", headers=h).status_code == 204
    assert c.delete(f"/api/v1/community/posts/{tid}", headers=token_for(app, agent)).status_code == 204
    assert c.get(f"/api/v1/community/threads/{tid}").status_code == 404


def test_portal_pages_new_thread_reply_edit_delete(app, login_as):
    client, user = login_as(app, "user")
    page = client.get("/community/new").get_data(as_text=True)
    r = client.post("/community/new", data={"csrf_token": csrf(page), "title": "Portal thread",
                                            "body": "<p>From the <em>portal</em></p><script>x()</script>"})
    assert r.status_code == 302
    tid = int(r.headers["Location"].rsplit("/", 1)[1])
    thread = client.get(f"/community/t/{tid}").get_data(as_text=True)
    assert "From the <em>portal</em>" in thread and "<script>x()" not in thread
    r = client.post(f"/community/t/{tid}/reply", data={"csrf_token": csrf(thread), "body": "<p>A reply</p>"})
    assert r.status_code == 302
    assert "A reply" in client.get(f"/community/t/{tid}").get_data(as_text=True)
    edit = client.get(f"/community/p/{tid}/edit").get_data(as_text=True)
    r = client.post(f"/community/p/{tid}/edit", data={"csrf_token": csrf(edit), "title": "Renamed",
                                                      "body": "<p>new</p>"})
    assert r.status_code == 302 and "Renamed" in client.get(f"/community/t/{tid}").get_data(as_text=True)
    assert client.post(f"/community/p/{tid}/delete", data={"csrf_token": csrf(edit)}).status_code == 302
    assert client.get(f"/community/t/{tid}").status_code == 404
    assert app.test_client().get("/community/new").status_code == 302  # login first


def test_captcha_only_for_unverified_users_new_threads(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local"], extra={"fixedcaptcha": CaptchaPlugin()},
                               overrides={"captcha": {"provider": "fixed"}})
    set_setting(app, "security.captcha.enabled", True)
    unverified = create_user(app, "user", verified=False)
    verified = create_user(app, "user")
    c = app.test_client()
    body = {"title": "Hi", "body_html": "<p>x</p>"}
    r = c.post("/api/v1/community/threads", json=body, headers=token_for(app, unverified))
    assert r.status_code == 422 and "captcha" in r.get_json()["errors"]
    r = c.post("/api/v1/community/threads", json={**body, "captcha_answer": "42"}, headers=token_for(app, unverified))
    assert r.status_code == 201
    assert c.post("/api/v1/community/threads", json=body, headers=token_for(app, verified)).status_code == 201
    tid = r.get_json()["id"]  # replies need no captcha
    assert c.post(f"/api/v1/community/threads/{tid}/replies", json={"body_html": "<p>r</p>"},
                  headers=token_for(app, unverified)).status_code == 201
    web = app.test_client()
    with web.session_transaction() as sess:
        sess["uid"], sess["sv"], sess["nonce"] = unverified.id, 1, "test"
    page = web.get("/community/new").get_data(as_text=True)
    assert 'name="captcha_answer"' in page
    r = web.post("/community/new", data={"csrf_token": csrf(page), "title": "T", "body": "<p>b</p>",
                                         "captcha_answer": "41"})
    assert r.status_code == 400
    r = web.post("/community/new", data={"csrf_token": csrf(page), "title": "T", "body": "<p>b</p>",
                                         "captcha_answer": "42"})
    assert r.status_code == 302
