"""The control-panel OAuth login of docs/writing-plugins.md (section "Single sign-on: a redirect login"), taken
from the guide as printed, passes the redirect-login contract suite against the real provider (standing in
for the panel's OAuth 2 server: its /auth, /token and /me endpoints)."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.testing import RedirectLoginContract
from tests.oidc.flow import RpBrowser
from tests.oidc.servers import SECRET, OidcServer

pytestmark = pytest.mark.slow

GUIDE = Path(__file__).resolve().parents[3] / "docs" / "writing-plugins.md"


def guide_blocks(kind: str) -> list[str]:
    """The guide's blocks fenced as ```KIND panel_login (the word_filter samples are tested elsewhere)."""
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(rf"^```{kind} panel_login\n(.*?)^```", text, re.M | re.S)


def test_the_example_imports_only_core() -> None:
    (source,) = guide_blocks("python")
    assert source.startswith("# plugdesk_panel_login/__init__.py\n")
    imported = re.findall(r"^(?:from|import) ([\w.]+)", source, re.M)
    assert {m.split(".")[0] for m in imported} <= {"__future__", "base64", "hashlib", "json", "secrets",
                                                    "urllib", "collections", "typing", "core"}
    assert "core" in imported


def _load() -> Any:
    """The guide's module, as printed."""
    (source,) = guide_blocks("python")
    module = types.ModuleType("plugdesk_panel_login")
    module.__file__ = str(GUIDE)
    sys.modules[module.__name__] = module  # pydantic resolves the Options annotations through it
    exec(compile(source, f"{GUIDE} (panel_login)", "exec"), module.__dict__)  # noqa: S102 - our own docs
    return module


PANEL_LOGIN = _load()


def _table(base: str) -> dict[str, Any]:
    """The guide's TOML table, pointed at the test provider ``base``."""
    import tomllib

    (toml,) = guide_blocks("toml")
    table = tomllib.loads(toml)["plugins"]["panel_login"]
    table.update({"authorize_url": f"{base}/auth", "token_url": f"{base}/token", "me_url": f"{base}/me",
                  "client_id": "plugdesk", "client_secret": SECRET, "scope": "openid email profile groups",
                  "staff_group": "helpdesk-agents"})
    return table


class TestGuidePanelLogin(RedirectLoginContract):
    """Everything plugdesk expects from a redirect login, for the guide's example."""

    plugin_name = "panel_login"
    plugin = PANEL_LOGIN
    overrides = {"plugins": {"panel_login": _table("http://127.0.0.1:9")}}  # for the configuration checks
    invalid_config = {"token_url": 42, "client_secret": ["s"]}

    @pytest.fixture
    def app(self, plugdesk_app_factory: Callable[..., Any], oidc_server: OidcServer) -> Any:
        return plugdesk_app_factory(["auth_local", "panel_login"], extra={"panel_login": PANEL_LOGIN}, overrides={
            "server": {"base_url": "http://rp.test"}, "plugins": {"panel_login": _table(oidc_server.issuer)}})

    @pytest.fixture
    def sign_in(self, app: Any) -> Callable[[str], dict[str, str]]:
        return lambda url: RpBrowser(app).at_provider(url, "alice", "alice-idp-pw")

    def test_claims_become_the_account(self, app: Any) -> None:
        person = RpBrowser(app)
        assert person.login("alice", "alice-idp-pw", provider="panel_login").status_code == 302
        user = app.extensions["plugdesk"].ctx.users.get(person.user_id())
        assert (user.provider, user.username, user.email, user.role) == ("panel_login", "alice",
                                                                          "alice@example.org", "agent")
