"""Edge cases without a server (they add to the real-server tests, never replace them)."""

from __future__ import annotations

import uuid

import pytest

from plugins.auth_ldap import ad
from plugins.auth_ldap.config import parse
from plugins.auth_ldap.directory import Entry
from plugins.auth_ldap.provider import DirectoryProvider, fill_filter, group_keys, local_username, usable_username


@pytest.mark.parametrize(("message", "code", "words"), [
    ("80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 525, v2580", "525", "not found"),
    ("80090308: LdapErr: DSID-0C09042F, comment: AcceptSecurityContext error, data 52e, v2580", "52e", "invalid"),
    ("... data 530, v2580", "530", "at this time"),
    ("... data 531, v2580", "531", "workstation"),
    ("... data 532, v2580", "532", "password expired"),
    ("... data 533, v2580", "533", "disabled"),
    ("... data 701, v2580", "701", "account expired"),
    ("... data 773, v2580", "773", "must reset"),
    ("... data 775, v2580", "775", "locked"),
    ("... data 0000052E, v2580", "52e", "invalid"),
])
def test_every_documented_ad_bind_code(message: str, code: str, words: str) -> None:
    parsed, reason = ad.bind_error(message)
    assert parsed == code and words in reason


def test_bind_error_without_code() -> None:
    assert ad.bind_error("") == (None, "bind refused")
    assert ad.bind_error("invalid credentials") == (None, "invalid credentials")


def test_filter_values_are_rfc4515_escaped() -> None:
    assert fill_filter("(uid={username})", username="*)(uid=*") == "(uid=\\2a\\29\\28uid=\\2a)"
    assert fill_filter("(uid={username})", username="a\\b\x00") == "(uid=a\\5cb\\00)"
    assert fill_filter("(member={dn})", dn="cn=a*,dc=x") == "(member=cn=a\\2a,dc=x)"


@pytest.mark.parametrize(("name", "usable"), [
    ("alice", True), ("a" * 256, True), ("a" * 257, False), ("", False), (" alice", False), ("alice ", False),
    ("al\x00ice", False), ("al\u200bice", False), ("al\nice", False), ("ünïcødé", True), ('o,+="<>;', True),
])
def test_usable_username(name: str, usable: bool) -> None:
    assert (usable_username(name) is not None) is usable


def test_local_username_sanitising() -> None:
    assert local_username("st*r(x)\\y", "fb") == "st_r_x__y"
    assert local_username("***", "fallback") == "fallback"
    assert len(local_username("x" * 500, "fb")) == 150


def test_account_flags_and_guid() -> None:
    raw = uuid.UUID("6b13bdb8-7035-4587-aca7-115abb98e3fd")
    entry = Entry("cn=a", {"userAccountControl": 514}, {"objectGUID": [raw.bytes_le]})
    assert "ACCOUNTDISABLE" in (ad.account_refusal(entry) or "")
    assert ad.guid(entry) == str(raw)
    assert ad.account_refusal(Entry("cn=a", {"userAccountControl": 512,
                                             "msDS-User-Account-Control-Computed": 16})) is not None
    assert ad.account_refusal(Entry("cn=a", {"userAccountControl": 512})) is None


def test_role_is_the_highest_mapped_group() -> None:
    cfg = parse({"providers": [{"name": "x", "urls": ["ldaps://h"], "base_dn": "dc=x", "anonymous_search": True,
                                "role_map": {"agents": "agent", "CN=Admins, OU=G, DC=X": "admin"}}]}).providers[0]
    import logging

    p = DirectoryProvider(cfg, logging.getLogger("t"))
    assert p.role(["cn=agents,ou=g,dc=x", "cn=admins,ou=g,dc=x"]) == "admin"
    assert p.role(["cn=agents,ou=g,dc=x"]) == "agent"
    assert p.role([]) == "user"
    assert "agents" in group_keys(["CN=Agents,OU=G,DC=X"])


def test_ad_login_name_forms() -> None:
    cfg = parse({"providers": [{"name": "ad", "kind": "ad", "domain": "example.test", "bind_dn": "s",
                                "bind_password": "p"}]}).providers[0]
    assert ad.login_name(cfg, "EXAMPLE\\alice") == "alice"
    assert ad.login_name(cfg, "OTHER\\alice") == "OTHER\\alice"  # foreign domain: searched literally, no match
    assert ad.bind_name(cfg, None, "alice") == "alice@example.test"
    assert ad.bind_name(cfg, None, "alice@corp.test") == "alice@corp.test"
