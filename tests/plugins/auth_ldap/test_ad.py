"""Active Directory against a real Samba 4 AD DC: UPN / sAMAccountName / NETBIOS logins, account states,
bind error codes, objectGUID linking, OU-derived base DN, nested groups, StartTLS and bind-first mode."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import pytest
from ldap3 import Connection, Server, Tls

from core.auth.login import GENERIC_FAILURE, UNAVAILABLE_TAIL
from plugins.auth_ldap import ad
from tests.plugins.auth_ldap.conftest import login

pytestmark = pytest.mark.slow


def _events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [r.plugdesk for r in caplog.records if hasattr(r, "plugdesk")]


def _guid(samba_ad: Any, sam: str) -> str:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=samba_ad.ca)
    conn = Connection(Server("127.0.0.1", port=636, use_ssl=True, tls=tls), *samba_ad.service, auto_bind=True)
    conn.search(samba_ad.base, f"(sAMAccountName={sam})", attributes=["objectGUID"])
    import uuid

    return str(uuid.UUID(bytes_le=conn.response[0]["raw_attributes"]["objectGUID"][0]))


def test_upn_samaccountname_and_netbios_forms_are_one_profile(make_app: Any, ad_provider: Any, samba_ad: Any) -> None:
    app = make_app(ad_provider())
    by_upn = login(app, "alice@example.test", "Alice#Pass1").user
    by_sam = login(app, "alice", "Alice#Pass1").user
    by_netbios = login(app, "EXAMPLE\\alice", "Alice#Pass1").user
    assert by_upn is not None and by_sam is not None and by_netbios is not None
    assert by_upn.id == by_sam.id == by_netbios.id
    assert (by_upn.username, by_upn.provider, by_upn.email, by_upn.display_name, by_upn.verified) == \
        ("alice", "ad", "alice@example.test", "Alice Tester", True)
    with app.extensions["plugdesk"].db.session() as s:
        from core.models import User
        assert s.get(User, by_upn.id).external_id == _guid(samba_ad, "alice")  # objectGUID, not the name


@pytest.mark.parametrize(("user", "password", "reason"), [
    ("bob", "Bob#Pass1", "account disabled (userAccountControl 0x202 has ACCOUNTDISABLE 0x2); refused before bind"),
    ("bob", "wrong-pass", "refused before bind"),
    ("frank", "Frank#Pass1", "account locked out"),
    ("dave", "Dave#Pass1", "AD error 773: user must reset password"),
    ("erin", "Erin#Pass1", "AD error 701: account expired"),
    ("gina", "not-ginas-pass", "AD error 52e: invalid credentials"),
])
def test_refused_accounts_get_the_generic_message_and_the_admin_the_reason(
        make_app: Any, ad_provider: Any, caplog: pytest.LogCaptureFixture, user: str, password: str,
        reason: str) -> None:
    app = make_app(ad_provider())
    with caplog.at_level(logging.INFO):
        out = login(app, f"{user}@example.test", password)
    assert out.user is None and out.message == GENERIC_FAILURE
    event = _events(caplog)[-1]
    assert event["outcome"] == "denied" and reason in event["reason"], event


@pytest.mark.parametrize(("user", "password", "code"), [
    ("gina@example.test", "nope", "52e"), ("bob@example.test", "Bob#Pass1", "533"),
    ("dave@example.test", "Dave#Pass1", "773"), ("erin@example.test", "Erin#Pass1", "701"),
    ("frank@example.test", "Frank#Pass1", "775"), ("nobody@example.test", "x", "52e"),
])
def test_real_samba_bind_errors_are_parsed(samba_ad: Any, user: str, password: str, code: str) -> None:
    tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=samba_ad.ca)
    conn = Connection(Server("127.0.0.1", port=636, use_ssl=True, tls=tls), user, password)
    assert not conn.bind()
    parsed_code, reason = ad.bind_error(conn.result["message"])
    assert parsed_code == code and reason.startswith(f"AD error {code}: ")


def test_ou_restricts_the_base_dn(make_app: Any, ad_provider: Any) -> None:
    app = make_app(ad_provider(ou="Staff"))
    assert login(app, "henry", "Henry#Pass1").user is not None
    assert login(app, "alice", "Alice#Pass1").user is None  # outside OU=Staff: not this provider's user
    assert make_app(ad_provider(ou="Staff")).extensions["plugdesk"].ctx.plugin_config("auth_ldap") \
        .config.providers[0].base_dn == "OU=Staff,DC=example,DC=test"


def test_group_roles_direct_and_nested(make_app: Any, ad_provider: Any) -> None:
    roles = {"helpdesk": "agent", "CN=managers,CN=Users,DC=example,DC=test": "manager"}
    direct = make_app(ad_provider(role_map=roles))
    assert login(direct, "alice", "Alice#Pass1").user.role == "agent"      # memberOf: helpdesk only
    assert login(direct, "gina", "Gina#Pass1").user.role == "user"
    nested = make_app(ad_provider(role_map=roles, nested_groups=True))
    assert login(nested, "alice", "Alice#Pass1").user.role == "manager"    # helpdesk is inside managers


def test_starttls_on_389(make_app: Any, ad_provider: Any) -> None:
    app = make_app(ad_provider(urls=["ldap://127.0.0.1:389"], start_tls=True))
    assert login(app, "alice", "Alice#Pass1").user is not None


def test_bind_first_mode_without_service_account(make_app: Any, ad_provider: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ad_provider(bind_dn="", bind_password=""))
    user = login(app, "alice", "Alice#Pass1").user
    assert user is not None and user.email == "alice@example.test"
    with caplog.at_level(logging.INFO):
        assert login(app, "bob", "Bob#Pass1").message == GENERIC_FAILURE
    assert "AD error 533: account disabled" in _events(caplog)[-1]["reason"]


def test_injection_and_odd_names_against_ad(make_app: Any, ad_provider: Any) -> None:
    app = make_app(ad_provider())
    for name in ("*", "a*", "*)(sAMAccountName=*", "x)(|(objectClass=*", "\\", "EXAMPLE\\*", "alice\x00",
                 ",+=\"<>;", "a" * 300):
        assert login(app, name, "Alice#Pass1").user is None, name


def test_wrong_service_password_and_diagnose(make_app: Any, ad_provider: Any) -> None:
    app = make_app(ad_provider(bind_password="Wrong#Svc1"))
    assert login(app, "alice", "Alice#Pass1").message.endswith(UNAVAILABLE_TAIL)
    st = app.extensions["plugdesk"]
    steps = st.host.one("auth_ldap", "plugin_diagnose", ctx=st.ctx, provider="ad", username="alice")
    bind = next(s for s in steps if s.name == "ad: service bind")
    assert not bind.ok and "invalidCredentials" in bind.detail and "data 52e" in bind.detail
    assert "Wrong#Svc1" not in " ".join(s.detail for s in steps)
    good = make_app(ad_provider())
    st = good.extensions["plugdesk"]
    steps = st.host.one("auth_ldap", "plugin_diagnose", ctx=st.ctx, provider="ad", username="bob")
    assert not steps[-1].ok and "account disabled" in steps[-1].detail
    steps = st.host.one("auth_ldap", "plugin_diagnose", ctx=st.ctx, provider="ad", username="alice@example.test")
    assert all(s.ok for s in steps) and "objectGUID=" in steps[-1].detail
