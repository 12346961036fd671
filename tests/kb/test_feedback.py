""""Was this helpful?": one vote per user/browser, rate limit, IP blacklist (CIDR, IPv6, mapped, proxies)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from core.app_state import state
from core.kb import feedback as fb
from core.kb.models import KbFeedback
from core.runtime_settings import SettingsValidationError
from tests.kb.helpers import make_article, set_setting, token_for


def votes(app) -> int:
    with state(app).db.session() as s:
        return s.scalar(select(func.count()).select_from(KbFeedback))


def vote_in_browser(client, article, answer="yes", comment="", remote="127.0.0.1", headers=None):
    page = client.get(f"/kb/{article.id}/{article.slug}", environ_base={"REMOTE_ADDR": remote}).get_data(
        as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)  # only for logged-in users
    return client.post(f"/kb/{article.id}/feedback", data={"csrf_token": token.group(1) if token else "",
                                                           "helpful": answer, "comment": comment},
                       environ_base={"REMOTE_ADDR": remote}, headers=headers or {}, follow_redirects=True)


def test_anonymous_browser_votes_once_and_admin_sees_counts(plugdesk_app, login_as):
    article = make_article(plugdesk_app)
    browser = plugdesk_app.test_client()
    r = vote_in_browser(browser, article, "yes", "Clear <b>and</b> short")
    assert r.status_code == 200 and "Thank you for your feedback" in r.get_data(as_text=True)
    assert browser.get_cookie("plugdesk_kbv") is not None
    r = vote_in_browser(browser, article, "no")
    assert r.status_code == 409 and "already rated" in r.get_data(as_text=True)
    page = browser.get(f"/kb/{article.id}/{article.slug}").get_data(as_text=True)
    assert "You rated this article" in page and 'name="helpful"' not in page
    other = plugdesk_app.test_client()
    assert vote_in_browser(other, article, "no").status_code == 200
    assert votes(plugdesk_app) == 2
    summary = fb.summary(state(plugdesk_app), article.id)
    assert (summary.helpful, summary.not_helpful) == (1, 1)
    assert [c["comment"] for c in summary.comments] == ["Clear <b>and</b> short"]
    admin, _ = login_as(plugdesk_app, "admin")
    html = admin.get(f"/manage/kb/{article.id}/feedback").get_data(as_text=True)
    assert "Clear &lt;b&gt;and&lt;/b&gt; short" in html  # comments are text, escaped
    assert "1 yes / 1 no" in admin.get("/manage/kb/").get_data(as_text=True)
    r = admin.get(f"/api/v1/kb/articles/{article.id}/feedback")  # a session is not a bearer token
    assert r.status_code == 401


def test_logged_in_user_votes_once_across_browsers_and_api(plugdesk_app, login_as):
    article = make_article(plugdesk_app)
    client, user = login_as(plugdesk_app, "user")
    r = client.post(f"/kb/{article.id}/feedback", data={"helpful": "yes"})  # a logged-in vote needs its token
    assert r.status_code == 400 and votes(plugdesk_app) == 0
    assert vote_in_browser(client, article).status_code == 200
    api = plugdesk_app.test_client()
    r = api.post(f"/api/v1/kb/articles/{article.id}/feedback", json={"helpful": False},
                 headers=token_for(plugdesk_app, user))
    assert r.status_code == 409 and r.get_json()["title"] == "Already rated"
    assert votes(plugdesk_app) == 1


def test_api_feedback_validation_and_anonymous_once_per_address(plugdesk_app):
    article = make_article(plugdesk_app)
    c = plugdesk_app.test_client()
    url = f"/api/v1/kb/articles/{article.id}/feedback"
    assert c.post(url, json={"helpful": "yes"}).status_code == 422
    assert c.post(url, json={"helpful": True, "comment": "x" * 2001}).status_code == 422
    assert c.post("/api/v1/kb/articles/999/feedback", json={"helpful": True}).status_code == 404
    r = c.post(url, json={"helpful": True, "comment": "great"})
    assert r.status_code == 201 and r.get_json()["status"] == "ok"
    assert c.post(url, json={"helpful": True}).status_code == 409
    assert c.post(url, json={"helpful": True}, environ_base={"REMOTE_ADDR": "198.51.100.4"}).status_code == 201
    agent = __import__("core.testing", fromlist=["create_user"]).create_user(plugdesk_app, "agent")
    r = c.get(url, headers=token_for(plugdesk_app, agent))
    assert r.get_json()["helpful"] == 2 and r.get_json()["comments"][0]["comment"] == "great"


def test_feedback_is_rate_limited_per_address(plugdesk_app):
    articles = [make_article(plugdesk_app, title=f"A{i}") for i in range(fb.RATE_LIMIT + 1)]
    c = plugdesk_app.test_client()
    statuses = [c.post(f"/api/v1/kb/articles/{a.id}/feedback", json={"helpful": True}).status_code
                for a in articles]
    assert statuses[:fb.RATE_LIMIT] == [201] * fb.RATE_LIMIT and statuses[-1] == 429
    assert votes(plugdesk_app) == fb.RATE_LIMIT


@pytest.mark.parametrize("blacklist, client_addr", [
    (["203.0.113.7"], "203.0.113.7"),
    (["203.0.113.0/24"], "203.0.113.200"),
    (["2001:db8::/32"], "2001:db8:1234::5"),
    (["2001:db8::1"], "2001:DB8:0:0::1"),
    (["203.0.113.0/24"], "::ffff:203.0.113.9"),  # IPv4-mapped IPv6
    (["0.0.0.0/0"], "192.0.2.1"),
])
def test_blacklisted_addresses_are_refused_politely_and_nothing_is_stored(plugdesk_app, blacklist, client_addr):
    article = make_article(plugdesk_app)
    set_setting(plugdesk_app, "security.ip_blacklist", blacklist)
    browser = plugdesk_app.test_client()
    r = vote_in_browser(browser, article, "no", "spam spam", remote=client_addr)
    assert r.status_code == 403 and fb.BLACKLIST_MESSAGE in r.get_data(as_text=True)
    assert browser.get_cookie("plugdesk_kbv") is None
    r = plugdesk_app.test_client().post(f"/api/v1/kb/articles/{article.id}/feedback", json={"helpful": False},
                                        environ_base={"REMOTE_ADDR": client_addr})
    assert r.status_code == 403 and r.get_json()["detail"] == fb.BLACKLIST_MESSAGE
    assert votes(plugdesk_app) == 0
    assert state(plugdesk_app).ctx.limits.get(f"kb-feedback:{client_addr}") == 0  # no trace at all
    assert vote_in_browser(plugdesk_app.test_client(), article, remote="198.51.100.1").status_code == (
        403 if blacklist == ["0.0.0.0/0"] else 200)


def test_forged_x_forwarded_for_without_trusted_proxy_is_ignored(plugdesk_app):
    """No trusted proxy: the header is the client's own claim and is ignored both ways."""
    article = make_article(plugdesk_app)
    set_setting(plugdesk_app, "security.ip_blacklist", ["203.0.113.0/24"])
    forged_clean = {"X-Forwarded-For": "198.51.100.1"}
    r = vote_in_browser(plugdesk_app.test_client(), article, remote="203.0.113.5", headers=forged_clean)
    assert r.status_code == 403
    forged_bad = {"X-Forwarded-For": "203.0.113.5"}
    r = vote_in_browser(plugdesk_app.test_client(), article, remote="198.51.100.2", headers=forged_bad)
    assert r.status_code == 200
    assert votes(plugdesk_app) == 1


def test_one_trusted_proxy_uses_the_hop_it_saw_not_the_forged_first_entry(plugdesk_app_factory):
    app = plugdesk_app_factory(["auth_local"], overrides={"server": {"trusted_proxies": 1}})
    article = make_article(app)
    set_setting(app, "security.ip_blacklist", ["203.0.113.0/24", "2001:db8::/32"])
    # the client forged "198.51.100.1"; our proxy appended the address it really saw
    r = vote_in_browser(app.test_client(), article, remote="127.0.0.1",
                        headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.5"})
    assert r.status_code == 403
    r = vote_in_browser(app.test_client(), article, remote="127.0.0.1",
                        headers={"X-Forwarded-For": "203.0.113.5, 2001:db8::7"})
    assert r.status_code == 403
    r = vote_in_browser(app.test_client(), article, remote="127.0.0.1",
                        headers={"X-Forwarded-For": "203.0.113.5, 198.51.100.9"})
    assert r.status_code == 200
    assert votes(app) == 1


def test_blacklist_lines_are_validated(plugdesk_app):
    runtime = state(plugdesk_app).runtime
    with pytest.raises(SettingsValidationError) as err:
        runtime.patch({"security.ip_blacklist": ["203.0.113.7", "not-an-ip"]}, actor="test")
    assert "line 2" in err.value.errors["security.ip_blacklist"]
    with pytest.raises(SettingsValidationError) as err:
        runtime.patch({"security.ip_blacklist": ["fe80::1%eth0"]}, actor="test")
    assert "zone" in err.value.errors["security.ip_blacklist"]
    runtime.patch({"security.ip_blacklist": ["203.0.113.7", "203.0.113.7", "2001:DB8::/32"]}, actor="test")
    assert runtime.get("security.ip_blacklist") == ["203.0.113.7", "2001:db8::/32"]
