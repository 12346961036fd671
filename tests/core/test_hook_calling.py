"""Core calls plugins only through the host's calling styles, on top of ``pm.hook``: pluggy's wrappers,
tryfirst/trylast, tracing and firstresult work as documented (issue 15, item 1)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

import pytest

from core import hookimpl
from core.hookspecs import CALL_STYLES
from core.plugins import StartupError, spec_names
from core.testing import TEST_PASSWORD, create_user
from core.types import PostInfo, Verdict, VerdictAction

ROOT = Path(__file__).resolve().parents[2]
#: The only modules that may touch pluggy's implementation lists.
HOST_MODULES = {"core/plugin_calls.py", "core/plugins.py", "core/plugin_compat.py"}
FORBIDDEN_ATTRS = {"get_hookimpls", "get_plugins", "call_impl", "impls", "_hookimpls", "hook"}


def _python_files() -> list[Path]:
    return sorted(p for top in ("core", "plugins") for p in (ROOT / top).rglob("*.py"))


def test_every_hook_declares_a_calling_style() -> None:
    assert sorted(CALL_STYLES) == spec_names()


def test_no_module_walks_plugin_implementations_itself() -> None:
    offenders = []
    for path in _python_files():
        rel = path.relative_to(ROOT).as_posix()
        if rel in HOST_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), rel)):
            if isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRS:
                value = node.value
                # ``x.pm.hook`` / ``host.impls`` / ``pm.get_plugins()``: anything reached through a plugin manager
                chain = ast.unparse(value)
                if node.attr == "hook" and not chain.endswith("pm"):
                    continue
                if node.attr in {"impls", "call_impl"} and "host" not in chain:
                    continue
                offenders.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not offenders, "call plugins through PluginHost's calling styles:\n" + "\n".join(offenders)


def test_every_hook_is_called_by_core_and_tested_and_documented() -> None:
    core_source = "\n".join(p.read_text() for p in _python_files()
                            if p.relative_to(ROOT).as_posix() not in {"core/hookspecs.py", "core/hookdocs.py"}
                            and "plugin_kit" not in p.parts and "plugins" != p.relative_to(ROOT).parts[0])
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py"))
    docs = (ROOT / "docs" / "hooks.md").read_text()
    for hook in spec_names():
        assert f'"{hook}"' in core_source, f"core never calls {hook}"
        assert hook in tests, f"no test exercises {hook}"
        assert f"### `{hook}`" in docs, f"docs/hooks.md has no section for {hook}"


# ----------------------------------------------------------------------------- wrappers


class VoteWrapper:
    """A wrapper around every moderation vote: its body must run and it must not be counted as a vote."""

    def __init__(self) -> None:
        self.seen: list[object] = []

    @hookimpl(wrapper=True)
    def moderation_check(self, post):  # type: ignore[no-untyped-def]
        result = yield
        self.seen.append(result)
        return result


class Holds:
    @hookimpl
    def moderation_check(self, post):  # type: ignore[no-untyped-def]
        return Verdict.hold("link in first post") if "http" in post.body_html else None


def test_wrapper_moderation_check_runs_and_is_not_a_vote(plugdesk_app_factory) -> None:  # type: ignore[no-untyped-def]
    from core.moderation import moderate

    wrapper = VoteWrapper()
    app = plugdesk_app_factory(["auth_local"], extra={"wrapper": wrapper, "holds": Holds()})
    user = create_user(app)
    state = app.extensions["plugdesk"]
    clean = moderate(state, user, PostInfo(kind="thread", title="t", body_html="hello"))
    assert clean.action is VerdictAction.ALLOW and clean.reasons == []
    spam = moderate(state, user, PostInfo(kind="thread", title="t", body_html="http://x"))
    assert spam.action is VerdictAction.HOLD and spam.reasons == [("holds", "link in first post")]
    assert wrapper.seen == [[], [Verdict.hold("link in first post")]]  # ran around the one plain vote


class PasswordWrapper:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(wrapper=True)
    def auth_set_password(self, user):  # type: ignore[no-untyped-def]
        self.calls += 1
        return (yield)


def test_wrapper_on_a_firstresult_hook_wraps_the_whole_call(plugdesk_app_factory) -> None:  # type: ignore[no-untyped-def]
    wrapper = PasswordWrapper()
    app = plugdesk_app_factory(["auth_local"], extra={"pwwrap": wrapper})
    create_user(app)
    assert wrapper.calls == 1


class Both:
    @hookimpl(wrapper=True)
    def moderation_check(self):  # type: ignore[no-untyped-def]
        return (yield)

    @hookimpl(specname="moderation_check")
    def plain_vote(self):  # type: ignore[no-untyped-def]
        return None


def test_wrapper_and_plain_impl_of_a_per_plugin_hook_are_refused_at_load(plugdesk_app_factory) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StartupError, match="both a wrapper and a plain implementation of 'moderation_check'"):
        plugdesk_app_factory(["auth_local"], extra={"both": Both()})


# ----------------------------------------------------------------------------- order, isolation, tracing


class FirstInLine:
    def __init__(self) -> None:
        self.order: list[str] = []

    @hookimpl(tryfirst=True)
    def auth_authenticate(self, username):  # type: ignore[no-untyped-def]
        self.order.append(username)
        return None


def test_tryfirst_is_honoured_in_the_login_chain(plugdesk_app_factory, hook_recorder) -> None:  # type: ignore[no-untyped-def]
    from core.auth.login import authenticate
    from core.types import RequestInfo

    first = FirstInLine()
    app = plugdesk_app_factory(["auth_local", "first"], extra={"first": first})
    recorder = hook_recorder(app)
    create_user(app, username="ana")
    with app.app_context():
        assert authenticate(app.extensions["plugdesk"], "Ana", TEST_PASSWORD, RequestInfo()).user is not None
    assert first.order == ["ana"]  # enabled last, called first
    assert recorder.plugins_called("auth_authenticate") == ["first", "auth_local"]
    assert len(recorder.calls("auth_authenticate")) == 1  # one login, one logical call
    assert recorder.calls("auth_authenticate")[0]["username_as_typed"] == "Ana"


class Boom:
    @hookimpl
    def user_registered(self, user):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")


class Counts:
    def __init__(self) -> None:
        self.users: list[str] = []

    @hookimpl
    def user_registered(self, user):  # type: ignore[no-untyped-def]
        self.users.append(user.username)


def test_notify_isolates_a_failing_plugin(plugdesk_app_factory, caplog) -> None:  # type: ignore[no-untyped-def]
    counts = Counts()
    app = plugdesk_app_factory(["auth_local", "boom", "counts"], extra={"boom": Boom(), "counts": counts})
    with caplog.at_level(logging.ERROR, logger="plugdesk.plugins"):
        create_user(app, username="kai")
    assert counts.users == ["kai"]
    assert "plugin boom failed in user_registered: RuntimeError: boom" in caplog.text


def test_pluggy_tracing_sees_every_call(plugdesk_app_factory) -> None:  # type: ignore[no-untyped-def]
    counts = Counts()
    app = plugdesk_app_factory(["auth_local", "counts"], extra={"counts": counts})
    pm = app.extensions["plugdesk"].host.pm
    lines: list[str] = []
    pm.trace.root.setwriter(lines.append)
    undo = pm.enable_tracing()
    try:
        create_user(app, username="lee")
    finally:
        undo()
    text = "".join(lines)
    assert "user_registered" in text and "auth_set_password" in text


def test_a_hook_is_only_called_in_its_declared_style(plugdesk_app_factory) -> None:  # type: ignore[no-untyped-def]
    app = plugdesk_app_factory(["auth_local"])
    with pytest.raises(TypeError, match="called as 'vote'"):
        app.extensions["plugdesk"].host.notify("moderation_check", author=None, post=None, ctx=None)
