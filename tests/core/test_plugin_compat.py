"""Compatibility and bad input, through scaffolded plugin packages where cheap: hook contract versions,
deprecated hook names and arguments, misspelled hooks, unknown arguments, raising auth hooks, two storage
plugins claiming one backend name; the changelog of the hook contract."""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import core.plugins
from core import HOOKS_VERSION, hookimpl
from core.auth.login import GENERIC_FAILURE, authenticate
from core.hookdocs import render
from core.plugin_kit.scaffold import hooks_range, scaffold
from core.plugins import StartupError
from core.testing import TEST_PASSWORD, create_user
from core.types import AuthResult, Identity, RequestInfo


def scaffolded(tmp_path: Path, name: str, area: str, edit: Callable[[str], str] | None = None) -> ModuleType:
    """Scaffold plugin ``name`` into ``tmp_path``, optionally edit its module, and import it (not installed)."""
    made = scaffold(name, area, tmp_path / name)
    path = made.root / made.module / "__init__.py"
    if edit is not None:
        source = path.read_text()
        changed = edit(source)
        assert changed != source, "the edit did not apply"
        path.write_text(changed)
    spec = importlib.util.spec_from_file_location(made.module, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- hook contract versions
def test_scaffold_declares_a_range_that_contains_this_contract(tmp_path):
    from packaging.specifiers import SpecifierSet

    module = scaffolded(tmp_path, "fits", "other")
    assert module.PLUGDESK_HOOKS_VERSION == hooks_range() and HOOKS_VERSION in SpecifierSet(hooks_range())
    assert hooks_range("1.4") == ">=1.4,<2" and hooks_range("2.0") == ">=2.0,<3"


@pytest.mark.parametrize("declared", [">=2.0,<3", "<1.0", "==0.9"])
def test_incompatible_hook_version_is_refused_naming_both_versions(tmp_path, plugdesk_app_factory, declared):
    module = scaffolded(tmp_path, "oldie", "moderation",
                        lambda s: s.replace(f'PLUGDESK_HOOKS_VERSION = "{hooks_range()}"',
                                            f'PLUGDESK_HOOKS_VERSION = "{declared}"'))
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local", "oldie"], extra={"oldie": module})
    msg = str(exc.value)
    assert "plugin 'oldie'" in msg and declared in msg and f"provides {HOOKS_VERSION}" in msg


def test_unparsable_hook_version_is_refused(tmp_path, plugdesk_app_factory):
    module = scaffolded(tmp_path, "garbled", "other",
                        lambda s: s.replace(f'"{hooks_range()}"', '"version one please"'))
    with pytest.raises(StartupError, match="'garbled' declares PLUGDESK_HOOKS_VERSION='version one please'"):
        plugdesk_app_factory(["auth_local", "garbled"], extra={"garbled": module})


@pytest.mark.slow
def test_installed_incompatible_plugin_stops_the_cli_with_one_line(tmp_path):
    made = scaffold("future_rule", "moderation", tmp_path / "src")
    init = made.root / made.module / "__init__.py"
    init.write_text(init.read_text().replace(hooks_range(), ">=3.0,<4"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target",
                    str(site), str(made.root)], check=True, capture_output=True)
    config = tmp_path / "plugdesk.toml"
    config.write_text(f'[server]\ndata_dir = "{tmp_path}"\n[plugins]\nenabled = ["auth_local", "future_rule"]\n')
    r = subprocess.run([str(Path(sys.executable).with_name("plugdesk")), "--config", str(config), "plugins", "list"],
                       env={**os.environ, "PYTHONPATH": str(site)}, capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert "plugin 'future_rule' supports hook contract >=3.0,<4" in r.stderr and HOOKS_VERSION in r.stderr


# ----------------------------------------------------------------------------- misspelled hooks and arguments
def test_misspelled_hook_in_a_scaffolded_plugin(tmp_path, plugdesk_app_factory):
    module = scaffolded(tmp_path, "typo_rule", "moderation",
                        lambda s: s.replace("def moderation_check(", "def moderation_chek("))
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local", "typo_rule"], extra={"typo_rule": module})
    msg = str(exc.value)
    assert "'typo_rule'" in msg and "'moderation_chek'" in msg and "did you mean 'moderation_check'" in msg


def test_argument_not_in_the_spec_in_a_scaffolded_plugin(tmp_path, plugdesk_app_factory):
    module = scaffolded(tmp_path, "argy", "moderation",
                        lambda s: s.replace("post: PostInfo, ctx: Any) -> Verdict", "posting: PostInfo, ctx: Any) -> "
                                                                                   "Verdict"))
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local", "argy"], extra={"argy": module})
    assert "'argy'" in str(exc.value) and "posting" in str(exc.value) and "moderation_check" in str(exc.value)


# ----------------------------------------------------------------------------- failing auth hooks
def test_unwritten_auth_plugin_fails_closed_and_is_logged_by_name(tmp_path, plugdesk_app_factory, caplog):
    module = scaffolded(tmp_path, "half_done", "auth")
    app = plugdesk_app_factory(["auth_local", "half_done"], extra={"half_done": module})
    create_user(app, username="kim")
    st = app.extensions["plugdesk"]
    with caplog.at_level(logging.ERROR, logger="plugdesk.auth"), app.app_context():
        local = authenticate(st, "kim", TEST_PASSWORD, RequestInfo())  # auth_local answers first
        unknown = authenticate(st, "stranger", "some password 1", RequestInfo())  # reaches the broken plugin
    assert local.user is not None
    assert unknown.user is None and unknown.message == GENERIC_FAILURE
    assert "half_done" in caplog.text and "fail closed" in caplog.text and "NotImplementedError" in caplog.text


# ----------------------------------------------------------------------------- single-choice conflicts
def test_two_storage_plugins_claiming_one_backend_name(tmp_path, plugdesk_app_factory):
    module = scaffolded(tmp_path, "mirror_fs", "storage",
                        lambda s: s.replace("return {NAME: Store(", 'return {"fs": Store('))
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local", "storage_fs", "mirror_fs"], extra={"mirror_fs": module})
    assert "two plugins claim storage backend 'fs': 'storage_fs' and 'mirror_fs'" in str(exc.value)
    assert "enable only one" in str(exc.value)


def test_scaffolded_storage_backend_is_selected_by_its_name(tmp_path, plugdesk_app_factory):
    module = scaffolded(tmp_path, "vault", "storage")
    app = plugdesk_app_factory(["auth_local", "vault"], extra={"vault": module},
                               overrides={"storage": {"backend": "vault"}})
    store = app.extensions["plugdesk"].storage
    assert isinstance(store, module.Store) and store.root.name == "vault-blobs"


# ----------------------------------------------------------------------------- deprecations
class OldName:
    """Implements auth_authenticate under a (pretend) former name."""

    @hookimpl
    def auth_check(self, username, password):
        if username == "legacy" and password == "legacy password 1":
            return AuthResult.ok(Identity(provider="old", username="legacy", external_id="legacy-1"))
        return None

    @hookimpl
    def auth_providers(self):
        from core.types import AuthProviderInfo

        return [AuthProviderInfo(name="old", label="Old directory", external=True)]


class OldArgument:
    """Implements auth_authenticate with a (pretend) former argument name."""

    @hookimpl
    def auth_authenticate(self, username, passwd):
        if username == "legacy" and passwd == "legacy password 1":
            return AuthResult.ok(Identity(provider="old", username="legacy", external_id="legacy-1"))
        return None

    auth_providers = OldName.auth_providers


def login(app, username, password):
    with app.app_context():
        return authenticate(app.extensions["plugdesk"], username, password, RequestInfo())


def test_deprecated_hook_name_keeps_working_with_a_warning(plugdesk_app_factory, monkeypatch, caplog):
    monkeypatch.setitem(core.plugins.DEPRECATED_HOOKS, "auth_check", ("auth_authenticate", "9.0"))
    with pytest.warns(DeprecationWarning, match="'legacy_dir'.*'auth_check' is deprecated.*9.0.*'auth_authenticate'"), \
            caplog.at_level(logging.WARNING, logger="plugdesk.plugins"):
        app = plugdesk_app_factory(["auth_local", "legacy_dir"], extra={"legacy_dir": OldName()})
    assert "rename it to 'auth_authenticate'" in caplog.text
    assert "auth_authenticate" in app.extensions["plugdesk"].host.info["legacy_dir"].hooks
    assert login(app, "legacy", "legacy password 1").user.username == "legacy"
    assert login(app, "legacy", "wrong password 1").user is None


def test_deprecated_hook_name_is_refused_once_removed(plugdesk_app_factory, monkeypatch):
    monkeypatch.setitem(core.plugins.DEPRECATED_HOOKS, "auth_check", ("auth_authenticate", HOOKS_VERSION))
    with pytest.raises(StartupError) as exc:
        plugdesk_app_factory(["auth_local", "legacy_dir"], extra={"legacy_dir": OldName()})
    assert "unknown hook 'auth_check' (renamed to 'auth_authenticate'" in str(exc.value)
    assert f"removed in hook contract {HOOKS_VERSION}" in str(exc.value)


def test_deprecated_argument_keeps_working_with_a_warning(plugdesk_app_factory, monkeypatch, caplog):
    monkeypatch.setitem(core.plugins.DEPRECATED_ARGS, ("auth_authenticate", "passwd"), ("password", "9.0"))
    with pytest.warns(DeprecationWarning, match="argument 'passwd' of hook 'auth_authenticate'.*'password'"), \
            caplog.at_level(logging.WARNING, logger="plugdesk.plugins"):
        app = plugdesk_app_factory(["auth_local", "legacy_arg"], extra={"legacy_arg": OldArgument()})
    assert "'legacy_arg'" in caplog.text and "rename it to 'password'" in caplog.text
    assert login(app, "legacy", "legacy password 1").user.username == "legacy"
    assert login(app, "legacy", "another password 1").user is None


def test_deprecated_argument_is_refused_once_removed(plugdesk_app_factory, monkeypatch):
    monkeypatch.setitem(core.plugins.DEPRECATED_ARGS, ("auth_authenticate", "passwd"), ("password", HOOKS_VERSION))
    with pytest.raises(StartupError, match="(?s)'legacy_arg'.*auth_authenticate.*passwd"):
        plugdesk_app_factory(["auth_local", "legacy_arg"], extra={"legacy_arg": OldArgument()})


def test_current_plugins_get_no_deprecation_warning(plugdesk_app_factory, recwarn):
    plugdesk_app_factory(["auth_local", "moderation_newusers"])
    assert not [w for w in recwarn if issubclass(w.category, DeprecationWarning) and "plugin '" in str(w.message)]


# ----------------------------------------------------------------------------- the changelog
def test_changelog_section_lists_versions_and_current_deprecations(monkeypatch):
    docs = (Path(__file__).resolve().parents[2] / "docs" / "hooks.md").read_text()
    assert "## Changelog of the hook contract" in docs and f"### {HOOKS_VERSION}" in docs
    assert "Nothing: every hook and argument is current." in docs
    monkeypatch.setitem(core.plugins.DEPRECATED_HOOKS, "auth_check", ("auth_authenticate", "9.0"))
    monkeypatch.setitem(core.plugins.DEPRECATED_ARGS, ("auth_authenticate", "passwd"), ("password", "9.0"))
    text = render()
    assert "- hook `auth_check` is deprecated: use `auth_authenticate`; removed in 9.0" in text
    assert "- argument `passwd` of `auth_authenticate` is deprecated: use `password`; removed in 9.0" in text
