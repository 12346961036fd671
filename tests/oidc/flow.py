"""Drive a redirect login without a browser: plugdesk through Flask's test client, the provider over HTTP.

:class:`RpBrowser` plays the person's browser: it presses "Sign in with ...", follows the provider's
redirects, fills in the provider's login form (``tests/oidc/server.mjs``) and brings the callback's query
back to plugdesk, keeping each side's cookies like a browser would.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests


def leave_url(response: Any) -> str:
    """Where plugdesk's "moving on to the provider" page (sign-in button, logout) sends the browser."""
    assert response.status_code == 200, response.get_data(as_text=True)
    refresh = response.headers.get("Refresh", "")
    assert refresh.startswith("0; url="), f"not a hop to the provider: {refresh!r}"
    return refresh[len("0; url="):]


class RpBrowser:
    """One person's browser: a Flask test client for plugdesk and a requests session for the provider."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = app.test_client()
        self.idp = requests.Session()

    def csrf(self) -> str:
        """A CSRF token from the login page (the buttons are small forms)."""
        return self.csrf_from("/login")

    def csrf_from(self, path: str) -> str:
        """The CSRF token of the first form on plugdesk's page ``path``."""
        html = self.client.get(path).get_data(as_text=True)
        match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', html)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def begin(self, provider: str = "testidp", next_url: str | None = None) -> Any:
        """Press "Sign in with ..."; the response (on success a page that moves on to the provider; its URL is
        :func:`leave_url`)."""
        query = f"?{urlencode({'next': next_url})}" if next_url else ""
        return self.client.post(f"/login/sso/{provider}{query}", data={"csrf_token": self.csrf()})

    def authorize_url(self, provider: str = "testidp") -> str:
        """Press the button and return the provider's authorization URL."""
        return leave_url(self.begin(provider))

    def at_provider(self, url: str, username: str, password: str, *, cancel: bool = False) -> dict[str, str]:
        """Open ``url`` at the provider, sign in (or cancel), and return the callback's query parameters."""
        page = self._follow(url)
        assert isinstance(page, requests.Response), f"no login page; redirected to {page}"
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action, page.text[:500]
        if cancel:
            target = self._follow(urljoin(page.url, action.group(1) + "/abort"))
        else:
            target = self._follow(urljoin(page.url, action.group(1)), data={"username": username,
                                                                             "password": password})
        assert isinstance(target, str), f"the provider did not redirect back: {getattr(target, 'text', '')[:500]}"
        return dict(parse_qsl(urlsplit(target).query))

    def _follow(self, url: str, data: dict[str, str] | None = None) -> requests.Response | str:
        """Follow the provider's redirects; stop at a page, or return the first URL off the provider."""
        base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        response = self.idp.post(url, data=data, allow_redirects=False) if data is not None else \
            self.idp.get(url, allow_redirects=False)
        for _ in range(10):
            if response.status_code not in (301, 302, 303, 307, 308):
                return response
            location = urljoin(response.url, response.headers["Location"])
            if not location.startswith(base):
                return location
            response = self.idp.get(location, allow_redirects=False)
        raise AssertionError("too many redirects at the provider")

    def callback(self, params: dict[str, str], provider: str = "testidp") -> Any:
        """The browser arrives at plugdesk's callback with ``params``."""
        return self.client.get(f"/login/sso/{provider}/callback?{urlencode(params)}")

    def login(self, username: str, password: str, provider: str = "testidp") -> Any:
        """The whole round trip; plugdesk's answer to the callback."""
        return self.callback(self.at_provider(self.authorize_url(provider), username, password), provider)

    def user_id(self) -> int | None:
        """The account this browser's plugdesk session belongs to."""
        with self.client.session_transaction() as session:
            return session.get("uid")
