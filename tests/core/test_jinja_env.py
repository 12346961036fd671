"""The app's Jinja environment: plain-dict template globals that follow changes, a dict template cache."""

from __future__ import annotations

from collections import ChainMap

import pytest
from jinja2 import DictLoader, UndefinedError

from core.web.fastpaths import PlugdeskFlask
from core.web.jinja_env import SnapshotGlobalsEnvironment

TEMPLATES = {"macros.html": "{% macro shout(x) %}{{ x|upper }}!{% endmacro %}",
             "page.html": '{% from "macros.html" import shout %}{{ shout(greeting) }} {{ url_for("hello") }}',
             "brand.html": "{{ brand() }}"}


@pytest.fixture()
def app() -> PlugdeskFlask:
    app = PlugdeskFlask("jinja-test")
    app.jinja_loader = DictLoader(TEMPLATES)  # type: ignore[assignment]

    @app.get("/")
    def hello() -> str:
        return "hi"

    return app


def test_templates_get_plain_dict_globals_and_render(app: PlugdeskFlask) -> None:
    env = app.jinja_env
    assert isinstance(env, SnapshotGlobalsEnvironment)
    assert isinstance(env.cache, dict)  # no LRU lock/deque per lookup
    with app.test_request_context("/"):
        template = env.get_template("page.html")
        assert type(template.globals) is dict and not isinstance(template.globals, ChainMap)
        assert template.render(greeting="hello") == "HELLO! /"
        assert template.render(greeting="again") == "AGAIN! /"


def test_imported_macros_module_is_built_once(app: PlugdeskFlask) -> None:
    """With a ChainMap the import compared key sets per render; with equal dict keys the module is cached."""
    env = app.jinja_env
    with app.test_request_context("/"):
        env.get_template("page.html").render(greeting="a")
        module = env.get_template("macros.html")._module
        env.get_template("page.html").render(greeting="b")
        assert module is not None and env.get_template("macros.html")._module is module


def test_a_global_added_after_loading_reaches_templates(app: PlugdeskFlask) -> None:
    env = app.jinja_env
    with app.test_request_context("/"):
        with pytest.raises(UndefinedError):
            env.get_template("brand.html").render()
        env.globals["brand"] = lambda: "Acme"
        assert env.get_template("brand.html").render() == "Acme"
        env.globals.update(brand=lambda: "Globex")
        assert env.get_template("brand.html").render() == "Globex"
        env.globals.pop("brand")
        with pytest.raises(UndefinedError):
            env.get_template("brand.html").render()
        env.globals.setdefault("brand", lambda: "Initech")
        assert env.get_template("brand.html").render() == "Initech"


def test_template_specific_globals_overlay_the_environment(app: PlugdeskFlask) -> None:
    env = app.jinja_env
    env.globals["who"] = "env"
    assert env.from_string("{{ who }}").render() == "env"
    assert env.from_string("{{ who }}", globals={"who": "template"}).render() == "template"
    assert env.globals["who"] == "env"  # the overlay never writes through


@pytest.mark.parametrize("text", ["", "plain subject", "<script>\"x'&amp;", "a & b < c > d", "ünïcode ' \" <>"])
def test_escape_text_writes_what_markup_escape_writes(text: str) -> None:
    from markupsafe import escape

    from core.web.jinja_env import escape_text

    assert escape_text(text) == str(escape(text))
    assert type(escape_text(text)) is str
