"""plugdesk core: the mechanisms (app factory, settings, database, plugin manager, auth flow).

Plugins implement hooks marked with :data:`hookimpl`; third parties may equally use
``pluggy.HookimplMarker("plugdesk")`` without importing this package.
"""

import pluggy

__version__ = "0.1.0"

#: Version of the hook contract (``core/hookspecs.py``). Minor bumps only add hooks or arguments;
#: a major bump removes or changes something. Plugins declare the range they support in a
#: module attribute ``PLUGDESK_HOOKS_VERSION`` (a PEP 440 specifier such as ``">=1.0,<2"``).
HOOKS_VERSION = "1.1"

PROJECT_NAME = "plugdesk"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

__all__ = ["HOOKS_VERSION", "PROJECT_NAME", "__version__", "hookimpl", "hookspec"]
