"""Property tests (hypothesis) for the parsers plugdesk owns: each either returns a clean value or refuses
with its documented error - never another exception - and a clean value parses to itself again."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from core.files.rules import MAX_NAME_BYTES, UploadRejected, display_name, extension
from core.runtime_settings import coerce_value
from core.security.settings_specs import SECURITY_SETTINGS
from core.security.validators import ip_in_list, parse_extensions, parse_ip_list
from core.settings import SCHEMA, ConfigError, load_settings

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=False),
                    st.text(max_size=40))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8),
                                                                                            inner, max_size=3),
                      max_leaves=8)
toml_values = st.one_of(st.booleans(), st.integers(-2**40, 2**40), st.text(max_size=40),
                        st.lists(st.text(max_size=12), max_size=4), st.lists(st.integers(), max_size=3))
keys = st.sampled_from([(s, k) for s, fields in SCHEMA.items() for k in fields if (s, k) != ("server", "data_dir")])


@FAST
@given(key=keys, value=toml_values)
def test_settings_values_are_accepted_with_their_type_or_refused_with_config_error(key: tuple[str, str],
                                                                                  value: Any) -> None:
    section, name = key
    try:
        loaded = load_settings(None, overrides={section: {name: value}}, environ={})
    except ConfigError as exc:
        assert f"{section}.{name}" in str(exc) or "[" in str(exc)
        return
    got = loaded.get(section, name)
    expected = {"str": str, "int": int, "bool": bool, "list": list}[SCHEMA[section][name].type]
    assert isinstance(got, expected)


@FAST
@given(text=st.text(max_size=200))
def test_any_toml_text_loads_or_fails_with_config_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path: Path = tmp_path_factory.mktemp("toml") / "plugdesk.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_settings(path, environ={})
    except ConfigError:
        pass


@FAST
@given(key=keys, raw=st.text(max_size=30))
def test_environment_overrides_are_parsed_or_refused(key: tuple[str, str], raw: str) -> None:
    section, name = key
    assume("\x00" not in raw)
    try:
        load_settings(None, environ={f"PLUGDESK_{section.upper()}_{name.upper()}": raw})
    except ConfigError:
        pass


@FAST
@given(spec=st.sampled_from(SECURITY_SETTINGS), value=values)
def test_runtime_setting_values_are_coerced_or_refused_and_coercion_is_stable(spec: Any, value: Any) -> None:
    try:
        clean = coerce_value(spec, value)
    except ValueError:
        return
    assert coerce_value(spec, clean) == clean


networks = st.one_of(st.ip_addresses().map(str),
                     st.tuples(st.ip_addresses(v=4), st.integers(0, 32)).map(lambda t: f"{t[0]}/{t[1]}"),
                     st.tuples(st.ip_addresses(v=6), st.integers(0, 128)).map(lambda t: f"{t[0]}/{t[1]}"))


@FAST
@given(entries=st.lists(networks, max_size=6), noise=st.lists(st.sampled_from(["", "  "]), max_size=2))
def test_ip_lists_normalise_and_contain_what_was_listed(entries: list[str], noise: list[str]) -> None:
    parsed = parse_ip_list(entries + noise)
    assert parse_ip_list(parsed) == parsed and len(set(parsed)) == len(parsed)
    for entry in entries:
        address = str(ipaddress.ip_network(entry, strict=False).network_address)
        assert ip_in_list(address, parsed)


@FAST
@given(value=st.one_of(st.text(max_size=80), st.lists(st.text(max_size=20), max_size=5), values))
def test_ip_lists_refuse_garbage_with_value_error(value: Any) -> None:
    try:
        parsed = parse_ip_list(value)
    except ValueError:
        return
    assert parse_ip_list(parsed) == parsed
    assert not ip_in_list(str(value)[:60] + "%zone", parsed) or True  # never raises for any address text


@FAST
@given(address=st.text(max_size=60), entries=st.lists(networks, max_size=3))
def test_ip_in_list_never_raises(address: str, entries: list[str]) -> None:
    assert isinstance(ip_in_list(address, parse_ip_list(entries)), bool)


@FAST
@given(value=st.one_of(st.lists(st.text(max_size=12), max_size=6), st.text(max_size=60), values))
def test_extension_lists_are_lower_case_dotted_or_star(value: Any) -> None:
    try:
        parsed = parse_extensions(value)
    except ValueError:
        return
    assert parsed == ["*"] or all(e.startswith(".") and e == e.lower() for e in parsed)
    assert parse_extensions(parsed) == parsed


@FAST
@given(raw=st.one_of(st.none(), st.text(max_size=400),
                     st.tuples(st.text(max_size=30), st.sampled_from(["/", "\\", ""]), st.text(max_size=300))
                     .map("".join)))
def test_upload_filenames_are_cleaned_or_refused_with_400(raw: str | None) -> None:
    try:
        name = display_name(raw)
    except UploadRejected as exc:
        assert exc.status == 400
        return
    assert name and "/" not in name and "\\" not in name and name not in (".", "..")
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert not any(ord(c) < 32 for c in name)
    ext = extension(name)
    assert ext == "" or (ext.startswith(".") and ext == ext.lower())
    assert display_name(name) == name


rss_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(st.tuples(rss_text, rss_text), min_size=1, max_size=4), junk=st.binary(max_size=200))
def test_rss_import_creates_once_and_refuses_garbage(plugdesk_app_factory: Any, items: list[tuple[str, str]],
                                                     junk: bytes) -> None:
    importer = pytest.importorskip("core.kb.importer")
    from xml.sax.saxutils import escape

    from core.app_state import state

    app = plugdesk_app_factory(["auth_local"])
    feed = ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>KB</title>"
            + "".join(f"<item><title>{escape(t) or 'x'}</title><guid isPermaLink='false'>kbarticle{i}</guid>"
                      f"<description>{escape(d)}</description></item>" for i, (t, d) in enumerate(items))
            + "</channel></rss>").encode()
    with app.app_context():
        first = importer.import_feed(state(app), feed)
        second = importer.import_feed(state(app), feed)
        assert first.created + first.updated + first.skipped == len(items) or first.errors
        assert second.created == 0  # re-importing the same feed never duplicates
        try:
            importer.import_feed(state(app), junk)
        except importer.FeedRefused:
            pass
