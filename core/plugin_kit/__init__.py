"""The plugin author kit: ``plugdesk plugin new`` scaffolds a pip-installable third-party plugin package.

* :mod:`core.plugin_kit.names` - what a plugin may be called (refuses invalid, reserved and in-tree names).
* :mod:`core.plugin_kit.scaffold` - writes the package: ``pyproject.toml`` (entry point, hook contract
  range), the plugin module, a README and tests running the area's contract suite.
* :mod:`core.plugin_kit.templates` / :mod:`core.plugin_kit.areas` - the file templates.
* :mod:`core.plugin_kit.cli` - the ``plugdesk plugin`` command group.

The walk-through for authors is ``docs/writing-plugins.md``.
"""

from core.plugin_kit.names import AREAS, InvalidPluginName, check_name
from core.plugin_kit.scaffold import Scaffold, scaffold

__all__ = ["AREAS", "InvalidPluginName", "Scaffold", "check_name", "scaffold"]
