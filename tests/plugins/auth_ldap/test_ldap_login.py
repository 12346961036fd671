"""Directory logins against a real slapd: LDAPS, StartTLS, plain LDAP, JIT profiles, roles, local passwords."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from ldap3 import MODIFY_ADD, MODIFY_DELETE, MODIFY_REPLACE

from core.auth.accounts import change_password, set_password
from core.auth.login import GENERIC_FAILURE
from core.testing import create_user
from core.types import RequestInfo
from core.users import AccountError
from tests.plugins.auth_ldap.conftest import login
from tests.plugins.auth_ldap.servers import BASE, ssha, user_dn

pytestmark = pytest.mark.slow


def _entry_uuid(slapd: Any, dn: str) -> str:
    conn = slapd.admin_conn()
    conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=["entryUUID"])
    value = conn.entries[0].entryUUID.value
    conn.unbind()
    return str(value)


def _add_user(slapd: Any, uid: str, password: str, **attrs: Any) -> str:
    dn = f"uid={uid},ou=people,{BASE}"
    conn = slapd.admin_conn()
    assert conn.add(dn, ["inetOrgPerson"], {"uid": uid, "cn": attrs.pop("cn", uid.title()), "sn": "Test",
                                             "userPassword": ssha(password), **attrs}), conn.result
    conn.unbind()
    return dn


@pytest.mark.parametrize("transport", ["ldaps", "starttls", "plain"])
def test_directory_user_logs_in_and_gets_a_profile(make_app: Any, ldap_provider: Any, slapd: Any,
                                                    transport: str) -> None:
    overrides = {"ldaps": {}, "starttls": {"urls": [slapd.ldap_url], "start_tls": True},
                 "plain": {"urls": [slapd.ldap_url], "allow_plaintext": True}}[transport]
    app = make_app(ldap_provider(**overrides))
    out = login(app, "alice", "Alice#Pw1")
    user = out.user
    assert user is not None, out.message
    assert (user.username, user.provider, user.email, user.display_name, user.role, user.verified) == \
        ("alice", "corp", "alice@example.org", "Alice Adams", "user", True)
    with app.app_context():
        st = app.extensions["plugdesk"]
        assert st.provider("corp").external is True
        with st.db.session() as s:
            from core.models import User
            assert s.get(User, user.id).external_id == _entry_uuid(slapd, user_dn("alice"))


def test_login_name_is_case_insensitive_and_one_profile(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider())
    first = login(app, "bob", "Bob#Pw1").user
    again = login(app, "BOB", "Bob#Pw1").user
    assert first is not None and again is not None and first.id == again.id


def test_directory_without_mail_gives_unverified_empty_email(make_app: Any, ldap_provider: Any) -> None:
    user = login(make_app(ldap_provider()), "dora", "Dora#Pw1").user
    assert user is not None and user.email == "" and user.verified is False and user.display_name == "Dora Dunn"


def test_wrong_password_is_generic_and_logged_without_the_password(make_app: Any, ldap_provider: Any,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ldap_provider())
    with caplog.at_level(logging.DEBUG):
        out = login(app, "alice", "Wr0ng-Secret-Value")
    assert out.user is None and out.message == GENERIC_FAILURE
    events = [r.plugdesk for r in caplog.records if hasattr(r, "plugdesk")]
    assert events[-1]["outcome"] == "denied" and "invalidCredentials" in events[-1]["reason"]
    assert events[-1]["dn"] == user_dn("alice") and events[-1]["remote_addr"] == "192.0.2.7"
    assert all("Wr0ng-Secret-Value" not in r.getMessage() and "Reader#Pw1" not in r.getMessage()
               for r in caplog.records)


def test_unknown_directory_user_falls_through_to_local_accounts(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider(), plugins=["auth_ldap", "auth_local"])  # directory first in the chain
    local = create_user(app, "admin", username="localadmin", password="Local-Admin-Pass-1")
    out = login(app, "localadmin", "Local-Admin-Pass-1")
    assert out.user is not None and out.user.id == local.id and out.user.provider == "local"
    assert login(app, "nobody", "whatever-pass").message == GENERIC_FAILURE


def test_later_logins_refresh_email_and_display_name(make_app: Any, ldap_provider: Any, slapd: Any) -> None:
    uid = f"ref{uuid.uuid4().hex[:6]}"
    dn = _add_user(slapd, uid, "Refresh#Pw1", mail=f"{uid}@old.example.org", cn="Old Name")
    app = make_app(ldap_provider())
    first = login(app, uid, "Refresh#Pw1").user
    conn = slapd.admin_conn()
    conn.modify(dn, {"mail": [(MODIFY_REPLACE, [f"{uid}@new.example.org"])], "cn": [(MODIFY_REPLACE, ["New Name"])]})
    second = login(app, uid, "Refresh#Pw1").user
    assert first is not None and second is not None and first.id == second.id
    assert (second.email, second.display_name, second.verified) == (f"{uid}@new.example.org", "New Name", True)


def test_profile_is_linked_by_entry_uuid_not_by_name(make_app: Any, ldap_provider: Any, slapd: Any) -> None:
    uid = f"ren{uuid.uuid4().hex[:6]}"
    _add_user(slapd, uid, "Rename#Pw1", mail=f"{uid}@example.org")
    app = make_app(ldap_provider())
    before = login(app, uid, "Rename#Pw1").user
    conn = slapd.admin_conn()
    assert conn.modify_dn(f"uid={uid},ou=people,{BASE}", f"uid={uid}x", delete_old_dn=True), conn.result
    after = login(app, f"{uid}x", "Rename#Pw1").user
    assert before is not None and after is not None and after.id == before.id  # same entryUUID, same profile
    assert login(app, uid, "Rename#Pw1").user is None  # the old name is gone from the directory
    # a NEW entry that takes the old name is a different person: it must never get the old profile
    _add_user(slapd, uid, "Newcomer#Pw1", mail=f"{uid}-new@example.org")
    newcomer = login(app, uid, "Newcomer#Pw1")
    assert newcomer.user is None or newcomer.user.id != before.id


def test_group_role_mapping_is_re_evaluated_at_each_login(make_app: Any, ldap_provider: Any, slapd: Any) -> None:
    uid = f"grp{uuid.uuid4().hex[:6]}"
    dn = _add_user(slapd, uid, "Groups#Pw1")
    group = f"cn=helpdesk,ou=groups,{BASE}"
    app = make_app(ldap_provider(group_base_dn=f"ou=groups,{BASE}",
                                 role_map={group.upper(): "agent", "managers": "manager"}))
    assert login(app, "alice", "Alice#Pw1").user.role == "agent"      # by group DN (any case)
    assert login(app, "bob", "Bob#Pw1").user.role == "manager"        # by group name
    assert login(app, "dora", "Dora#Pw1").user.role == "user"         # in no mapped group
    conn = slapd.admin_conn()
    assert conn.modify(group, {"member": [(MODIFY_ADD, [dn])]}), conn.result
    assert login(app, uid, "Groups#Pw1").user.role == "agent"
    assert conn.modify(group, {"member": [(MODIFY_DELETE, [dn])]}), conn.result
    assert login(app, uid, "Groups#Pw1").user.role == "user"          # demoted at the next login


def test_required_groups_refuse_non_members(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider(group_base_dn=f"ou=groups,{BASE}", required_groups=["helpdesk", "managers"]))
    assert login(app, "alice", "Alice#Pw1").user is not None
    assert login(app, "dora", "Dora#Pw1").message == GENERIC_FAILURE


def test_directory_user_can_never_get_a_local_password(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider())
    user = login(app, "alice", "Alice#Pw1").user
    st = app.extensions["plugdesk"]
    with app.app_context():
        with pytest.raises(AccountError) as info:
            change_password(st, user, "Alice#Pw1", "A-brand-new-local-pass-9", RequestInfo())
        assert "managed by corp" in info.value.message  # the provider label
        with pytest.raises(AccountError):
            set_password(st, user, "A-brand-new-local-pass-9", check_rules=False)
        assert st.ctx.credentials.get(user.id, "local") is None and st.ctx.credentials.get(user.id, "corp") is None
    assert login(app, "alice", "A-brand-new-local-pass-9").user is None
    assert login(app, "alice", "Alice#Pw1").user.id == user.id


def test_change_password_form_refuses_directory_users(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider())
    user = login(app, "alice", "Alice#Pw1").user
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    with client.session_transaction() as sess:
        sess["uid"], sess["sv"], sess["nonce"] = user.id, 1, "test"
    resp = client.post("/profile", data={"current_password": "Alice#Pw1", "new_password": "Local-pass-for-alice-1",
                                          "confirm": "Local-pass-for-alice-1"})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "managed by corp" in body, body  # the provider label
    assert login(app, "alice", "Local-pass-for-alice-1").user is None
    with app.app_context():
        assert app.extensions["plugdesk"].ctx.credentials.get(user.id, "local") is None


def test_anonymous_search_and_dn_template_modes(make_app: Any, ldap_provider: Any) -> None:
    anon = make_app(ldap_provider(bind_dn="", bind_password="", anonymous_search=True))
    assert login(anon, "alice", "Alice#Pw1").user is not None
    assert login(anon, "alice", "nope-nope").user is None
    template = make_app(ldap_provider(bind_dn="", bind_password="", user_dn_template=f"uid={{username}},ou=people,"
                                                                                     f"{BASE}"))
    user = login(template, "bob", "Bob#Pw1").user
    assert user is not None and user.email == "bob@example.org"
    assert login(template, "bob", "wrong-pass").user is None


def test_several_directories_are_tried_in_order(make_app: Any, ldap_provider: Any, closed_port: int) -> None:
    down = ldap_provider(name="down", urls=[f"ldaps://127.0.0.1:{closed_port}"])
    staff = ldap_provider(name="staff", base_dn=f"ou=staff,{BASE}")
    people = ldap_provider(name="people", base_dn=f"ou=people,{BASE}")
    app = make_app(down, staff, people)
    assert login(app, "alice", "Alice#Pw1").user.provider == "people"  # down skipped, staff deferred
    twin = login(app, "twin", "Twin#Pw1").user  # in both OUs: the first directory that has it wins
    assert twin is not None and twin.provider == "staff" and twin.email == "twin2@example.org"
