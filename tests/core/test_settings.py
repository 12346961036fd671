"""Static configuration: validation with file/line, env overrides, secrets, redaction."""

from __future__ import annotations

import pytest

from core.settings import REDACTED, ConfigError, load_settings


def write(tmp_path, text):
    path = tmp_path / "plugdesk.toml"
    path.write_text(text)
    return path


def test_defaults_without_file(tmp_path):
    s = load_settings(None, environ={})
    assert s.get("server", "trusted_proxies") == 0
    assert s.get("limits", "storage") == "memory://"


def test_unknown_section_names_file_line_and_accepted(tmp_path):
    path = write(tmp_path, '[server]\nport = 8080\n\n[sever]\nport = 1\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(path, environ={})
    msg = str(exc.value)
    assert "[sever]" in msg and f"{path}:4" in msg and "server" in msg


def test_unknown_key_names_line_and_accepted_keys(tmp_path):
    path = write(tmp_path, '[server]\nbase_url = "http://x.example"\nprot = 1\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(path, environ={})
    msg = str(exc.value)
    assert "server.prot" in msg and f"{path}:3" in msg and "port" in msg


@pytest.mark.parametrize("line,expected", [
    ('port = "80"', "an integer >= 1 and <= 65535"),
    ("port = 0", "an integer >= 1 and <= 65535"),
    ("trusted_proxies = true", "an integer"),
    ("base_url = 5", "a string"),
    ('base_url = "ftp://x"', "absolute http"),
])
def test_wrong_types_are_refused_with_accepted_values(tmp_path, line, expected):
    path = write(tmp_path, f"[server]\n{line}\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path, environ={})
    assert expected in str(exc.value)


def test_plugins_enabled_must_be_list_of_strings(tmp_path):
    path = write(tmp_path, "[plugins]\nenabled = \"auth_local\"\n")
    with pytest.raises(ConfigError, match="a list of strings"):
        load_settings(path, environ={})


def test_secret_from_file_and_env(tmp_path):
    (tmp_path / "key").write_text("s3cret-value\n")
    path = write(tmp_path, '[server]\nsecret_key = { "$file" = "key" }\n[mail]\nurl = { "$env" = "MAIL_URL" }\n')
    s = load_settings(path, environ={"MAIL_URL": "smtp://u:pw@mail.example:587"})
    assert s.get("server", "secret_key") == "s3cret-value"
    shown = s.redacted()
    assert shown["server"]["secret_key"] == REDACTED
    assert shown["mail"]["url"] == f"smtp://u:{REDACTED}@mail.example:587"
    assert "s3cret-value" not in repr(s) and "pw@" not in repr(s)


def test_missing_secret_file_stops_startup(tmp_path):
    path = write(tmp_path, '[server]\nsecret_key = { "$file" = "nope" }\n')
    with pytest.raises(ConfigError) as exc:
        load_settings(path, environ={})
    assert "server.secret_key" in str(exc.value) and "nope" in str(exc.value)


def test_missing_env_secret(tmp_path):
    path = write(tmp_path, '[server]\nsecret_key = { "$env" = "NOT_SET_ANYWHERE" }\n')
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE is not set"):
        load_settings(path, environ={})


def test_env_overrides_are_typed(tmp_path):
    path = write(tmp_path, "[server]\nport = 8000\n")
    s = load_settings(path, environ={"PLUGDESK_SERVER_PORT": "9000", "PLUGDESK_SERVER_TRUSTED_PROXIES": "1",
                                     "PLUGDESK_PLUGINS_ENABLED": "auth_local, captcha_builtin"})
    assert s.get("server", "port") == 9000
    assert s.get("server", "trusted_proxies") == 1
    assert s.get("plugins", "enabled") == ["auth_local", "captcha_builtin"]


def test_env_override_wrong_type_and_unknown_name(tmp_path):
    with pytest.raises(ConfigError, match="PLUGDESK_SERVER_PORT"):
        load_settings(None, environ={"PLUGDESK_SERVER_PORT": "eighty"})
    with pytest.raises(ConfigError, match="unknown environment variable PLUGDESK_SERVER_PROT"):
        load_settings(None, environ={"PLUGDESK_SERVER_PROT": "1"})


def test_plugin_tables_keep_secrets_redacted(tmp_path):
    (tmp_path / "pw").write_text("binds3cret")
    path = write(tmp_path, '[plugins]\nenabled = ["auth_local"]\n[plugins.auth_local]\n'
                 'bind_password = { "$file" = "pw" }\nurl = "ldap://x"\n')
    s = load_settings(path, environ={})
    assert s.plugin_table("auth_local")["bind_password"] == "binds3cret"
    assert s.redacted()["plugins"]["auth_local"] == {"bind_password": REDACTED, "url": "ldap://x"}


def test_invalid_toml_is_reported(tmp_path):
    path = write(tmp_path, "[server\nport = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(path, environ={})


def test_relative_sqlite_path_is_relative_to_data_dir(tmp_path):
    path = write(tmp_path, '[server]\ndata_dir = "data"\n[database]\nurl = "sqlite:///x.db"\n')
    s = load_settings(path, environ={})
    assert s.get("database", "url") == f"sqlite:///{tmp_path / 'data' / 'x.db'}"


def test_duplicate_plugin_names_refused(tmp_path):
    path = write(tmp_path, '[plugins]\nenabled = ["auth_local", "auth_local"]\n')
    with pytest.raises(ConfigError, match="duplicate"):
        load_settings(path, environ={})
