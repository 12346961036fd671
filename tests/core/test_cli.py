"""The plugdesk command: init, users, settings, plugins; one-line errors and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from core.cli import main


@pytest.fixture
def site(tmp_path):
    runner = CliRunner()
    pw = tmp_path / "pw"
    pw.write_text("admin password for tests\n")
    r = runner.invoke(main, ["init", "--data-dir", str(tmp_path / "d"), "--admin-password-file", str(pw)])
    assert r.exit_code == 0, r.output
    return runner, str(tmp_path / "d" / "plugdesk.toml"), pw


def run(site, *args):
    runner, config, _ = site
    return runner.invoke(main, ["--config", config, *args])


def test_init_creates_config_db_and_admin(site, tmp_path):
    r = run(site, "users", "list", "--json")
    users = json.loads(r.output)
    assert users[0]["username"] == "admin" and users[0]["role"] == "admin"
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o077 == 0


def test_init_prints_generated_password_once_and_refuses_existing_dir(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["init", "--data-dir", str(tmp_path / "x")])
    assert r.exit_code == 0 and "password:" in r.output
    r = runner.invoke(main, ["init", "--data-dir", str(tmp_path / "x")])
    assert r.exit_code == 1 and "already exists" in r.output


def test_users_create_and_errors(site, tmp_path):
    pw = tmp_path / "userpw"
    pw.write_text("another good password")
    r = run(site, "users", "create", "--username", "Agent1", "--email", "a1@example.com", "--role", "agent",
            "--password-file", str(pw))
    assert r.exit_code == 0, r.output
    r = run(site, "users", "create", "--username", "agent1", "--email", "a2@example.com", "--role", "agent",
            "--password-file", str(pw))
    assert r.exit_code == 1 and "taken" in r.output
    pw.write_text("agent2")
    r = run(site, "users", "create", "--username", "agent2", "--email", "a2@example.com", "--password-file", str(pw))
    assert r.exit_code == 1 and "password refused" in r.output
    assert run(site, "users", "set-role", "AGENT1", "manager").exit_code == 0
    assert run(site, "users", "disable", "agent1").exit_code == 0
    users = {u["username"]: u for u in json.loads(run(site, "users", "list", "--json").output)}
    assert users["Agent1"]["role"] == "manager" and users["Agent1"]["active"] is False
    assert run(site, "users", "disable", "ghost").exit_code == 1


def test_settings_get_set_validation(site):
    assert run(site, "settings", "get", "security.brute_force.enabled").output.strip() == "true"
    r = run(site, "settings", "set", "security.uploads.user_extensions", '[".pdf", ".PNG"]')
    assert r.exit_code == 0 and '[".pdf", ".png"]' in r.output
    r = run(site, "settings", "set", "security.brute_force.max_failures", "-1")
    assert r.exit_code == 1 and "at least 1" in r.output
    r = run(site, "settings", "set", "security.captcha.provider", "nonexistent")
    assert r.exit_code == 1 and "expected one of" in r.output
    r = run(site, "settings", "get", "security.nope")
    assert r.exit_code == 1 and "unknown setting" in r.output
    r = run(site, "settings", "set", "security.embedding.origins", "https://intranet.example.com")
    assert r.exit_code == 0 and "https://intranet.example.com" in r.output


def test_plugins_list_json(site):
    plugins = json.loads(run(site, "plugins", "list", "--json").output)
    local = next(p for p in plugins if p["name"] == "auth_local")
    assert local["distribution"] == "plugdesk" and "auth_authenticate" in local["hooks"]


def test_plugins_list_text_shows_the_declared_contract_range(site):
    plugins = json.loads(run(site, "plugins", "list", "--json").output)
    lines = run(site, "plugins", "list").output.splitlines()
    for info in plugins:
        line = next(x for x in lines if x.split()[0] == info["name"])
        assert f" {info['hooks_version'] or '-'} " in line, line


def test_bad_config_gives_one_line_reason(tmp_path):
    config = tmp_path / "plugdesk.toml"
    config.write_text('[server]\nbase_url = "http://x.example"\nworkerz = 2\n')
    r = CliRunner().invoke(main, ["--config", str(config), "plugins", "list"])
    assert r.exit_code == 1
    assert r.output.startswith("plugdesk: unknown key server.workerz") and r.output.count("\n") == 1


def test_unknown_plugin_in_config(tmp_path):
    config = tmp_path / "plugdesk.toml"
    config.write_text('[plugins]\nenabled = ["auth_local", "no_such_plugin"]\n')
    r = CliRunner().invoke(main, ["--config", str(config), "plugins", "list"])
    assert r.exit_code == 1 and "unknown plugin 'no_such_plugin'" in r.output


def test_db_upgrade_is_idempotent(site):
    assert run(site, "db", "upgrade").exit_code == 0
    assert run(site, "db", "upgrade").exit_code == 0
