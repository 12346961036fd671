"""``[plugins.auth_ldap]`` validation: bad configuration stops startup with the key and the fix."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from core.plugins import StartupError
from core.testing import make_test_app
from core.types import PluginConfigError
from plugins.auth_ldap.config import parse

GOOD: dict[str, Any] = {"name": "corp", "urls": ["ldaps://ldap.example.com"], "base_dn": "dc=example,dc=com",
                        "bind_dn": "cn=reader,dc=example,dc=com", "bind_password": "s3cret"}


def _error(**changes: Any) -> PluginConfigError:
    table = {**GOOD, **changes}
    with pytest.raises(PluginConfigError) as info:
        parse({"providers": [{k: v for k, v in table.items() if v is not None}]})
    return info.value


def test_good_config_defaults() -> None:
    cfg = parse({"providers": [GOOD]}).providers[0]
    assert cfg.kind == "ldap" and cfg.user_filter == "(uid={username})"
    assert cfg.tls_verify is True and cfg.connect_timeout == 5.0 and cfg.receive_timeout == 5.0
    assert cfg.servers[0].port == 636 and cfg.servers[0].use_ssl
    assert "s3cret" not in repr(cfg)  # the service password never shows up in reprs or logs


@pytest.mark.parametrize("user_filter", ["(uid=alice)", "(uid=*)", "(&(objectClass=person)(uid=%s))"])
def test_filter_without_username_placeholder_is_refused(user_filter: str) -> None:
    err = _error(user_filter=user_filter)
    assert err.key == "providers[0].user_filter" and "{username}" in err.message


@pytest.mark.parametrize(("changes", "key", "words"), [
    ({"user_filter": "uid={username}"}, "user_filter", "parentheses"),
    ({"user_filter": "(&(uid={username})"}, "user_filter", "not a valid LDAP filter"),
    ({"user_filter": "(uid={username})(cn={user})"}, "user_filter", "placeholders"),
    ({"urls": ["http://ldap.example.com"]}, "urls[0]", "ldap://host"),
    ({"urls": ["ldaps://ldap.example.com:99999"]}, "urls[0]", "not a valid URL"),
    ({"urls": ["ldaps://ldap.example.com/dc=x?uid"]}, "urls[0]", "ldap://host"),
    ({"urls": []}, "urls", "at least one"),
    ({"urls": ["ldap://ldap.example.com"]}, "urls", "clear text"),
    ({"urls": ["ldaps://ldap.example.com"], "start_tls": True}, "start_tls", "already ldaps"),
    ({"base_dn": "not a dn"}, "base_dn", "not a valid DN"),
    ({"base_dn": None}, "base_dn", "required"),
    ({"bind_password": ""}, "bind_password", "empty"),
    ({"bind_dn": None, "bind_password": None}, "bind_dn", "anonymous_search"),
    ({"ca_file": "/nonexistent/ca.pem"}, "ca_file", "does not exist"),
    ({"connect_timeout": 0}, "connect_timeout", "between 0 and 300"),
    ({"receive_timeout": "5"}, "receive_timeout", "between 0 and 300"),
    ({"kind": "novell"}, "kind", "'ldap' or 'ad'"),
    ({"name": "Local"}, "name", "lower-case"),
    ({"name": "local"}, "name", "not 'local'"),
    ({"role_map": {"staff": "root"}}, "role_map.staff", "one of user, agent, manager, admin"),
    ({"attributes": {"email": "mail;binary"}}, "attributes.email", "attribute name"),
    ({"attributes": {"phone": "tel"}}, "attributes.phone", "unknown attribute key"),
    ({"user_dn_template": "uid=x,dc=example,dc=com"}, "user_dn_template", "{username}"),
    ({"tls_verify": "no"}, "tls_verify", "true or false"),
    ({"search_scope": "base"}, "search_scope", "'subtree' or 'one'"),
    ({"chase_referrals": True}, "chase_referrals", "unknown key"),
])
def test_bad_values_name_the_key(changes: dict[str, Any], key: str, words: str) -> None:
    err = _error(**changes)
    assert err.key == f"providers[0].{key}"
    assert words in err.message


def test_ad_base_dn_is_derived_from_domain_and_ou() -> None:
    cfg = parse({"providers": [{"name": "ad", "kind": "ad", "domain": "Corp.Example.COM", "ou": "Staff/Helpdesk",
                                "bind_dn": "svc@corp.example.com", "bind_password": "x"}]}).providers[0]
    assert cfg.base_dn == "OU=Helpdesk,OU=Staff,DC=corp,DC=example,DC=com"
    assert cfg.servers[0].url == "ldaps://corp.example.com" and cfg.netbios == "CORP"
    assert "sAMAccountName={username}" in cfg.user_filter and "userPrincipalName={username}" in cfg.user_filter


def test_ad_needs_a_domain_name() -> None:
    with pytest.raises(PluginConfigError) as info:
        parse({"providers": [{"name": "ad", "kind": "ad", "domain": "not a domain"}]})
    assert info.value.key == "providers[0].domain"


def test_duplicate_names_and_unknown_top_level_keys() -> None:
    with pytest.raises(PluginConfigError) as info:
        parse({"providers": [GOOD, GOOD]})
    assert info.value.key == "providers[1].name" and "twice" in info.value.message
    with pytest.raises(PluginConfigError) as info:
        parse({"servers": []})
    assert info.value.key == "servers"


def test_relative_ca_file_is_resolved_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("x")
    cfg = parse({"providers": [{**GOOD, "ca_file": "ca.pem"}]}, str(tmp_path / "plugdesk.toml")).providers[0]
    assert cfg.ca_file == str(tmp_path / "ca.pem")


def test_startup_fails_with_plugin_key_and_message(tmp_path: Path) -> None:
    overrides = {"plugins": {"auth_ldap": {"providers": [{**GOOD, "user_filter": "(uid=admin)"}]}}}
    with pytest.raises(StartupError) as info:
        make_test_app(tmp_path, ["auth_local", "auth_ldap"], overrides=overrides)
    text = str(info.value)
    assert "auth_ldap" in text and "providers[0].user_filter" in text and "{username}" in text


def test_disabled_validation_and_plaintext_warn_loudly_at_startup(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    providers = [{**GOOD, "tls_verify": False},
                 {**GOOD, "name": "plain", "urls": ["ldap://ldap.example.com"], "allow_plaintext": True}]
    with caplog.at_level(logging.WARNING, logger="plugdesk.plugins.auth_ldap"):
        app = make_test_app(tmp_path, ["auth_local", "auth_ldap"],
                            overrides={"plugins": {"auth_ldap": {"providers": providers}}})
    warnings = [r.getMessage() for r in caplog.records if r.name == "plugdesk.plugins.auth_ldap"]
    assert any("SECURITY WARNING" in w and "'corp'" in w and "validation is DISABLED" in w for w in warnings)
    assert any("SECURITY WARNING" in w and "'plain'" in w and "clear text" in w for w in warnings)
    infos = app.extensions["plugdesk"].auth_providers
    assert [(p.name, p.external, p.registration) for p in infos if p.name != "local"] == \
        [("corp", True, False), ("plain", True, False)]
