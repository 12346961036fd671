"""The hand-built hidden CSRF field renders exactly as WTForms' hidden input does (core.web.forms.csrf_input)."""

from __future__ import annotations

import pytest
from markupsafe import Markup
from wtforms.widgets import html_params

from core.web.forms import csrf_input


@pytest.mark.parametrize(("name", "token"), [("csrf_token", "IjE2ZjA3.Z0123.abc-def_ghi"),
                                             ('x"<&>', '"><script>alert(1)</script>'), ("csrf_token", "")])
def test_csrf_input_is_wtforms_hidden_input_without_an_id(name: str, token: str) -> None:
    expected = Markup(f"<input {html_params(name=name, type='hidden', value=token)}>")
    rendered = csrf_input(name, token)
    assert rendered == expected and isinstance(rendered, Markup)
    assert "<script>" not in rendered
