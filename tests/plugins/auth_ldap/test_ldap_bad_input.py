"""Hostile and odd input against a real slapd: filter injection, DN specials, empty passwords, ambiguity."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from core.auth.login import GENERIC_FAILURE
from core.types import RequestInfo
from tests.plugins.auth_ldap.conftest import SilentServer, login, plugin
from tests.plugins.auth_ldap.servers import BASE, user_dn

pytestmark = pytest.mark.slow

# Each of these, unescaped, would turn "(uid={username})" into a filter matching alice (or everybody):
INJECTIONS = ["*", "a*", "*)(uid=*", "x)(|(objectClass=*", "alice)(|(uid=*", "*)(|(uid=alice", "al*ce",
              "alice\x00", "\x00", "\\", "\\2a", "alice\\", "(", ")", "*)", '",+="<>;', ",+=\"<>;",
              "uid=alice,ou=people," + BASE]


@pytest.mark.parametrize("username", INJECTIONS)
def test_filter_metacharacters_never_match_anyone_else(make_app: Any, ldap_provider: Any, username: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ldap_provider())
    for password in ("Alice#Pw1", "Bob#Pw1", "Reader#Pw1"):
        out = login(app, username, password)
        assert out.user is None and out.message == GENERIC_FAILURE
    with app.app_context():  # nothing was provisioned
        from core.models import User

        with app.extensions["plugdesk"].db.session() as s:
            assert s.query(User).count() == 0
    provider = plugin(app).providers[0]
    if "\x00" not in username:  # what reaches the directory is the escaped literal: no entry has that uid
        assert provider.lookup(username).entries == []


def test_escaping_is_exact_names_with_specials_log_in(make_app: Any, ldap_provider: Any) -> None:
    """Escaped correctly (not just refused): users whose uid contains filter and DN specials can log in."""
    app = make_app(ldap_provider())
    star = login(app, "st*r(x)\\y", "Star#Pw1").user
    assert star is not None and star.email == "star@example.org"
    assert star.username == "st_r_x__y"  # local profile name: disallowed characters replaced
    special = login(app, 'o,+="<>;', "Special#Pw1").user
    assert special is not None and special.email == "special@example.org"
    assert login(app, "st*", "Star#Pw1").user is None and login(app, "*", "Star#Pw1").user is None


def test_dn_template_escapes_the_rdn_value(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider(bind_dn="", bind_password="", user_dn_template=f"uid={{username}},ou=people,{BASE}"))
    special = login(app, 'o,+="<>;', "Special#Pw1").user
    assert special is not None and special.email == "special@example.org"
    # without escaping this would be the DN of alice: "uid=x,ou=people,...,uid=alice" style tricks must fail
    assert login(app, f"alice,ou=people,{BASE}", "Alice#Pw1").user is None
    assert login(app, "alice+cn=Alice Adams", "Alice#Pw1").user is None


@pytest.mark.parametrize("username", [" alice", "alice ", "  alice  "])
def test_surrounding_spaces(make_app: Any, ldap_provider: Any, username: str) -> None:
    app = make_app(ldap_provider())
    # core strips the login name for every provider (as for local accounts): same user, same profile
    assert login(app, username, "Alice#Pw1").user.username == "alice"
    # the plugin itself never sends a name with surrounding spaces (LDAP would treat them as significant)
    assert plugin(app).providers[0].authenticate(username, "Alice#Pw1", RequestInfo()) is None


def test_overlong_names_are_refused_before_the_directory(make_app: Any, ldap_provider: Any) -> None:
    app = make_app(ldap_provider())
    assert login(app, "a" * 300, "Alice#Pw1").message == GENERIC_FAILURE
    assert plugin(app).providers[0].authenticate("a" * 300, "Alice#Pw1", RequestInfo()) is None
    assert login(app, "alice" + " " * 300 + "x", "Alice#Pw1").user is None


@pytest.mark.parametrize("password", ["", " ", "   ", "\t", "\n", " \t\n "])
def test_empty_and_whitespace_passwords_never_reach_the_directory(make_app: Any, ldap_provider: Any,
                                                                  silent_server: SilentServer, password: str) -> None:
    app = make_app(ldap_provider())
    assert login(app, "alice", password).message == GENERIC_FAILURE
    # the plugin's own guard, behind core's: with a server that counts connections, none is made
    counted = make_app(ldap_provider(urls=[f"ldap://127.0.0.1:{silent_server.port}"], allow_plaintext=True))
    provider = plugin(counted).providers[0]
    assert provider.authenticate("alice", password, RequestInfo()) is None
    assert provider.directory.user_bind(None, user_dn("alice"), password)[0] is None
    assert silent_server.accepted == 0


@pytest.mark.parametrize("username", ["", " ", "\t"])
def test_empty_usernames_are_never_an_anonymous_bind(make_app: Any, ldap_provider: Any, username: str,
                                                    silent_server: SilentServer) -> None:
    app = make_app(ldap_provider(bind_dn="", bind_password="", user_dn_template=f"uid={{username}},ou=people,{BASE}"))
    assert login(app, username, "anything-at-all").user is None
    counted = make_app(ldap_provider(urls=[f"ldap://127.0.0.1:{silent_server.port}"], allow_plaintext=True))
    assert plugin(counted).providers[0].authenticate(username, "anything", RequestInfo()) is None
    assert plugin(counted).providers[0].directory.user_bind(None, username, "anything")[0] is None
    assert silent_server.accepted == 0


def test_search_matching_two_entries_is_refused(make_app: Any, ldap_provider: Any,
                                                caplog: pytest.LogCaptureFixture) -> None:
    app = make_app(ldap_provider())
    with caplog.at_level(logging.INFO):
        out = login(app, "twin", "Twin#Pw1")
    assert out.user is None and out.message == GENERIC_FAILURE
    event = [r.plugdesk for r in caplog.records if hasattr(r, "plugdesk")][-1]
    assert event["outcome"] == "denied" and "more than one entry" in event["reason"]
    assert "ou=people" in event["reason"] and "ou=staff" in event["reason"]


def test_broad_filter_template_matching_many_is_refused(make_app: Any, ldap_provider: Any) -> None:
    # an admin's filter that ignores the name in practice still cannot log anybody in as "somebody"
    app = make_app(ldap_provider(user_filter="(|(uid={username})(objectClass=inetOrgPerson))"))
    assert login(app, "alice", "Alice#Pw1").message == GENERIC_FAILURE
