"""plugdesk core: the mechanisms (app factory, settings, database, plugin manager, auth flow).

This package is also **the public surface for plugins**: a plugin imports what it uses from ``core``
(and its tests from ``core.testing``), nothing else. Everything re-exported below - the hook markers,
``HOOKS_VERSION``, every value type of the hook contract, :class:`PluginContext` and the services it
offers, and the errors - is documented in ``docs/hooks.md`` and kept stable. Other modules of ``core``
are internals that may change in any release. Plugins implement hooks marked with :data:`hookimpl`;
third parties may equally use ``pluggy.HookimplMarker("plugdesk")``.
"""

import pluggy

__version__ = "0.1.0"

#: Version of the hook contract (``core/hookspecs.py``). Minor bumps only add hooks or arguments;
#: a major bump removes or changes something. Plugins declare the range they support in a
#: module attribute ``PLUGDESK_HOOKS_VERSION`` (a PEP 440 specifier such as ``">=1.0,<2"``).
HOOKS_VERSION = "1.3"

PROJECT_NAME = "plugdesk"

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
hookspec = pluggy.HookspecMarker(PROJECT_NAME)

# The re-exports come after the markers: core.hookspecs (and anything it imports) does ``from core import
# hookspec`` while this package is still initialising. Flask-style explicit ``X as X`` marks them public.
from core.context import PluginContext as PluginContext  # noqa: E402  (after the markers, see above)
from core.context import PluginMail as PluginMail  # noqa: E402
from core.limits import CounterStore as CounterStore  # noqa: E402
from core.mail import MailError as MailError  # noqa: E402
from core.schema import ConfigModel as ConfigModel  # noqa: E402
from core.schema import explain as explain  # noqa: E402
from core.schema import parse_plugin_config as parse_plugin_config  # noqa: E402
from core.schema import refuse as refuse  # noqa: E402
from core.services import Departments as Departments  # noqa: E402
from core.services import Passwords as Passwords  # noqa: E402
from core.services import TicketOperations as TicketOperations  # noqa: E402
from core.settings import Settings as Settings  # noqa: E402
from core.types import AuthProviderInfo as AuthProviderInfo  # noqa: E402
from core.types import AuthResult as AuthResult  # noqa: E402
from core.types import AuthStatus as AuthStatus  # noqa: E402
from core.types import BlobNotFound as BlobNotFound  # noqa: E402
from core.types import BlobStore as BlobStore  # noqa: E402
from core.types import CaptchaProvider as CaptchaProvider  # noqa: E402
from core.types import CaptchaVerdict as CaptchaVerdict  # noqa: E402
from core.types import DepartmentInfo as DepartmentInfo  # noqa: E402
from core.types import DiagnosticStep as DiagnosticStep  # noqa: E402
from core.types import Identity as Identity  # noqa: E402
from core.types import InboundMessage as InboundMessage  # noqa: E402
from core.types import MailSource as MailSource  # noqa: E402
from core.types import MailSourceUnavailable as MailSourceUnavailable  # noqa: E402
from core.types import ModerationDecision as ModerationDecision  # noqa: E402
from core.types import PluginConfigError as PluginConfigError  # noqa: E402
from core.types import PostInfo as PostInfo  # noqa: E402
from core.types import PostStatus as PostStatus  # noqa: E402
from core.types import RedirectProviderInfo as RedirectProviderInfo  # noqa: E402
from core.types import RedirectStart as RedirectStart  # noqa: E402
from core.types import RequestInfo as RequestInfo  # noqa: E402
from core.types import Role as Role  # noqa: E402
from core.types import SettingSpec as SettingSpec  # noqa: E402
from core.types import StorageError as StorageError  # noqa: E402
from core.types import StorageUnavailable as StorageUnavailable  # noqa: E402
from core.types import SweepReport as SweepReport  # noqa: E402
from core.types import TicketInfo as TicketInfo  # noqa: E402
from core.types import TicketMessageInfo as TicketMessageInfo  # noqa: E402
from core.types import TicketStatus as TicketStatus  # noqa: E402
from core.types import UserInfo as UserInfo  # noqa: E402
from core.types import Verdict as Verdict  # noqa: E402
from core.types import VerdictAction as VerdictAction  # noqa: E402
from core.users import AccountError as AccountError  # noqa: E402
from core.users import CredentialStore as CredentialStore  # noqa: E402
from core.users import UserDirectory as UserDirectory  # noqa: E402

__all__ = [
    "HOOKS_VERSION", "PROJECT_NAME", "__version__", "hookimpl", "hookspec",
    # the plugin's context and its services
    "PluginContext", "PluginMail", "Departments", "TicketOperations", "Passwords", "UserDirectory",
    "CredentialStore", "CounterStore", "Settings",
    # value types of the hook contract
    "AuthProviderInfo", "AuthResult", "AuthStatus", "BlobStore", "CaptchaProvider", "CaptchaVerdict",
    "DepartmentInfo", "DiagnosticStep", "Identity", "InboundMessage", "MailSource", "ModerationDecision",
    "PostInfo", "PostStatus",
    "RedirectProviderInfo", "RedirectStart", "RequestInfo", "Role", "SettingSpec", "SweepReport", "TicketInfo",
    "TicketMessageInfo", "TicketStatus", "UserInfo", "Verdict", "VerdictAction",
    # the schema library for configuration tables (pydantic)
    "ConfigModel", "explain", "parse_plugin_config", "refuse",
    # errors
    "AccountError", "BlobNotFound", "MailError", "MailSourceUnavailable", "PluginConfigError", "StorageError",
    "StorageUnavailable",
]
