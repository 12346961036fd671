"""``[plugins.auth_oidc]`` is validated at startup; each mistake names the key and what is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from core.testing import StartupError
from plugins.auth_oidc.config import parse

GOOD = {"name": "corp", "issuer": "https://id.example.com/realms/staff", "client_id": "plugdesk",
        "client_secret": "s3cret"}


def _refused(table: dict[str, Any]) -> str:
    with pytest.raises(Exception) as info:
        parse({"providers": [table]})
    return str(info.value)


def test_defaults() -> None:
    cfg = parse({"providers": [GOOD]}).providers[0]
    assert (cfg.label, cfg.scopes, cfg.link_existing, cfg.clock_skew_seconds) == \
        ("corp", ("openid", "email", "profile"), "never", 60)
    assert cfg.discovery_url == "https://id.example.com/realms/staff/.well-known/openid-configuration"
    assert "s3cret" not in repr(cfg)
    assert cfg.role(["x"]) is None


@pytest.mark.parametrize("change, key", [
    ({"issuer": "http://id.example.com"}, "providers[0].issuer"),
    ({"issuer": "ftp://x"}, "providers[0].issuer"),
    ({"client_secret": ""}, "providers[0].client_secret"),
    ({"scopes": ["email"]}, "providers[0].scopes"),
    ({"link_existing": "always"}, "providers[0].link_existing"),
    ({"role_map": {"staff": "root"}}, "providers[0].role_map"),
    ({"clock_skew_seconds": 3600}, "providers[0].clock_skew_seconds"),
    ({"name": "Bad Name"}, "providers[0].name"),
    ({"name": "local"}, "providers[0].name"),
    ({"authorize_params": {"state": "x"}}, "providers[0].authorize_params"),
    ({"allowed_domains": ["not a domain"]}, "providers[0].allowed_domains"),
    ({"ca_file": "/no/such/ca.pem"}, "providers[0].ca_file"),
    ({"colour": "blue"}, "providers[0].colour"),
])
def test_bad_values_name_the_key(change: dict[str, Any], key: str) -> None:
    assert key in _refused({**GOOD, **change})


def test_public_client_and_loopback_http_are_allowed() -> None:
    cfg = parse({"providers": [{**GOOD, "client_secret": "", "token_auth_method": "none",
                                "issuer": "http://127.0.0.1:9000"}]}).providers[0]
    assert cfg.token_auth_method == "none"


def test_duplicate_names_and_groups_mapping() -> None:
    with pytest.raises(Exception, match=r"providers\[1\]\.name"):
        parse({"providers": [GOOD, GOOD]})
    cfg = parse({"providers": [{**GOOD, "role_map": {"Helpdesk-Agents": "agent", "admins": "admin"}}]}).providers[0]
    assert cfg.role(["helpdesk-agents"]) == "agent" and cfg.role(["admins", "helpdesk-agents"]) == "admin"
    assert cfg.role(["other"]) == "user"


def test_startup_names_the_plugin_and_key(plugdesk_app_factory) -> None:
    with pytest.raises(StartupError, match=r"auth_oidc.*providers\[0\]\.client_id"):
        plugdesk_app_factory(["auth_local", "auth_oidc"], overrides={
            "plugins": {"auth_oidc": {"providers": [{k: v for k, v in GOOD.items() if k != "client_id"}]}}})


def test_secret_reference_is_resolved(plugdesk_app_factory, tmp_path) -> None:
    (tmp_path / "oidc.secret").write_text("from-a-file\n")
    app = plugdesk_app_factory(["auth_local", "auth_oidc"], overrides={
        "plugins": {"auth_oidc": {"providers": [{**GOOD, "client_secret": {"$file": str(tmp_path / "oidc.secret")}}]}}})
    plugin = app.extensions["plugdesk"].ctx.plugin_config("auth_oidc")
    assert plugin.config.providers[0].client_secret == "from-a-file"
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "Sign in with corp" in html
