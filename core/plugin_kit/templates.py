'''Templates shared by every area: ``pyproject.toml``, the README, the module header and the test header.

Placeholders are ``__NAME__`` (plugin name), ``__MODULE__`` (import name), ``__DIST__`` (distribution),
``__RANGE__`` (supported hook contract versions), ``__AREA__``, ``__CLASS__`` (CamelCase name) and ``__DIR__``
(the package's directory name, for the install line :data:`INSTALL` gives).
'''

from __future__ import annotations

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "TODO: one line on what the __NAME__ plugin does for plugdesk"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["plugdesk", "pydantic>=2.6"]

[project.optional-dependencies]
# `pip install -e './__DIR__[test]'` installs the tools the tests need.
test = ["pytest>=8.0"]

# plugdesk finds plugins through this entry-point group; the name on the left is what admins put in
# `[plugins] enabled` of plugdesk.toml.
[project.entry-points."plugdesk.plugins"]
__NAME__ = "__MODULE__"

[tool.setuptools]
packages = ["__MODULE__"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
addopts = "-ra"
'''

README = '''\
# __DIST__

A plugdesk plugin (area: __AREA__). TODO: say what it does and for whom.

## Status

Scaffolded by `plugdesk plugin new __NAME__ --area __AREA__`. Every hook in `__MODULE__/__init__.py` that
says `TODO` raises `NotImplementedError`, so `pytest` fails until you write them: the tests run plugdesk's
contract suite for this area (`core.testing`), the same suite the built-in plugins pass.

## Develop

From the folder that holds this package, in the environment where plugdesk is installed:

```sh
pip install -e './__DIR__[test]'
cd __DIR__ && pytest      # the contract suite + your own tests
```

## Enable

```toml
# plugdesk.toml
[plugins]
enabled = ["auth_local", "captcha_builtin", "storage_fs", "__NAME__"]
__SELECT__
[plugins.__NAME__]        # this plugin's own settings (see parse_config); secrets as { "$env" = "NAME" }
```

Then `plugdesk plugins list` shows it, and `plugdesk serve` refuses to start with a message naming the
plugin if its configuration is wrong or if your plugdesk's hook contract is not in `PLUGDESK_HOOKS_VERSION`
(__RANGE__).

See plugdesk's `docs/writing-plugins.md` and `docs/hooks.md`.
'''

SELECT = {
    "storage": '[storage]\nbackend = "__NAME__"',
    "captcha": '[captcha]\nprovider = "__NAME__"   # and Settings > Security: captcha type "__NAME__"',
}

MODULE_HEADER = '''\
"""__DIST__: TODO one line on what this plugin does.

Enable it with ``[plugins] enabled = [..., "__NAME__"]`` in plugdesk.toml. The hooks and the types they
take are documented in plugdesk's docs/hooks.md; ``ctx`` is plugdesk's PluginContext (settings, your parsed
config, runtime settings, users, logging).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__IMPORTS__

#: The hook contract versions this plugin supports; plugdesk refuses to start it with any other.
PLUGDESK_HOOKS_VERSION = "__RANGE__"
NAME = "__NAME__"


class Options(ConfigModel):
    """``[plugins.__NAME__]``: every key with its type and default (a pydantic model).

    Unknown keys and values of the wrong type are refused; add constraints as you need them, e.g.
    ``limit: Annotated[int, Field(ge=0)] = 3`` (``from typing import Annotated``, ``from pydantic import Field``).
    """

__KEYS__


@hookimpl
def parse_config(raw: Mapping[str, Any], ctx: Any) -> dict[str, Any]:
    """Validate this plugin's ``[plugins.__NAME__]`` table (an empty mapping when there is none).

    ``parse_plugin_config`` raises ``PluginConfigError(key, message)`` for an unknown key or a bad value:
    plugdesk stops at startup and names the plugin, the key and the file. What you return is
    ``ctx.plugin_config("__NAME__")`` in every hook.
    """
    return parse_plugin_config(Options, raw).model_dump()
'''

TEST_HEADER = '''\
"""Tests for __DIST__: plugdesk's __AREA__ contract suite, plus room for your own tests.

These fail until the TODOs in __MODULE__/__init__.py are written. The fixtures (plugdesk_app_factory,
hook_recorder, login_as) come from plugdesk's pytest plugin, active wherever plugdesk is installed.
"""

from __future__ import annotations

from typing import Any

import pytest

import __MODULE__
__IMPORTS__


def test_plugin_loads_with_this_plugdesk(plugdesk_app_factory: Any) -> None:
    """plugdesk accepts the plugin: hook names and arguments match the contract, the version range fits."""
    app = plugdesk_app_factory(["auth_local", "__NAME__"], extra={"__NAME__": __MODULE__},
                               overrides=__OVERRIDES__)
    info = app.extensions["plugdesk"].host.info["__NAME__"]
    assert info.hooks_version == __MODULE__.PLUGDESK_HOOKS_VERSION
    assert set(__HOOKS__) <= set(info.hooks)
'''


#: The one way every piece of plugdesk tells a plugin author to install a package for development (the CLI,
#: the scaffold's README and docs/writing-plugins.md): editable, with the ``test`` extra.
INSTALL = "pip install -e './__DIR__[test]'"


def fill(template: str, values: dict[str, str]) -> str:
    """Replace every ``__KEY__`` placeholder with its value."""
    for key, value in values.items():
        template = template.replace(f"__{key}__", value)
    return template
