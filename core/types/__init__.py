"""Typed values that cross the plugin boundary.

Everything a hook receives or returns is defined in this package, so plugin authors have one place to read.
These are plain dataclasses and abstract base classes; none of them is bound to the database. The modules group
them by theme (:mod:`~core.types.auth`, :mod:`~core.types.tickets`, :mod:`~core.types.community`,
:mod:`~core.types.mail`, :mod:`~core.types.storage`, :mod:`~core.types.captcha`, :mod:`~core.types.config`,
:mod:`~core.types.enums`); import the names from here (or, in a plugin, from ``core``), never from a module.

``__all__`` lists them in the order ``docs/hooks.md`` documents them (``python -m core.hookdocs``).
"""

from core.types.auth import AuthProviderInfo as AuthProviderInfo
from core.types.auth import AuthResult as AuthResult
from core.types.auth import AuthStatus as AuthStatus
from core.types.auth import Identity as Identity
from core.types.auth import RedirectProviderInfo as RedirectProviderInfo
from core.types.auth import RedirectStart as RedirectStart
from core.types.auth import RequestInfo as RequestInfo
from core.types.auth import UserInfo as UserInfo
from core.types.captcha import CaptchaProvider as CaptchaProvider
from core.types.captcha import CaptchaVerdict as CaptchaVerdict
from core.types.community import ModerationDecision as ModerationDecision
from core.types.community import PostInfo as PostInfo
from core.types.community import Verdict as Verdict
from core.types.community import VerdictAction as VerdictAction
from core.types.config import DiagnosticStep as DiagnosticStep
from core.types.config import PluginConfigError as PluginConfigError
from core.types.config import SettingSpec as SettingSpec
from core.types.enums import PostStatus as PostStatus
from core.types.enums import Role as Role
from core.types.enums import TicketStatus as TicketStatus
from core.types.mail import InboundMessage as InboundMessage
from core.types.mail import MailSource as MailSource
from core.types.mail import MailSourceUnavailable as MailSourceUnavailable
from core.types.storage import BlobNotFound as BlobNotFound
from core.types.storage import BlobStore as BlobStore
from core.types.storage import StorageError as StorageError
from core.types.storage import StorageUnavailable as StorageUnavailable
from core.types.tickets import DepartmentInfo as DepartmentInfo
from core.types.tickets import SweepReport as SweepReport
from core.types.tickets import TicketInfo as TicketInfo
from core.types.tickets import TicketMessageInfo as TicketMessageInfo

__all__ = [
    "PluginConfigError", "RequestInfo", "UserInfo", "Identity", "AuthStatus", "AuthResult", "AuthProviderInfo",
    "CaptchaProvider", "CaptchaVerdict", "StorageError", "StorageUnavailable", "BlobNotFound", "BlobStore",
    "PostInfo", "VerdictAction", "Verdict", "ModerationDecision", "SweepReport", "DepartmentInfo", "TicketInfo",
    "TicketMessageInfo", "SettingSpec", "DiagnosticStep", "Role", "TicketStatus", "PostStatus",
    "RedirectProviderInfo", "RedirectStart", "MailSourceUnavailable", "InboundMessage", "MailSource",
]
