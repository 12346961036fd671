"""The Settings > Security keys of CONTRACT.md: types, defaults, limits, help texts, validators."""

from __future__ import annotations

from core.inbound.rules import parse_sender_list
from core.security.validators import ip_list_warnings, parse_extensions, parse_ip_list, parse_origins
from core.types import SettingSpec
from core.web.ratelimit import validate_limit

DAY = 86400

SECURITY_SETTINGS: list[SettingSpec] = [
    SettingSpec("security.captcha.enabled", "bool", False, "Enable captcha",
                "Shows a captcha on registration, portal ticket submission and new community threads by users "
                "whose email address is not verified. Default: off."),
    # default and choices are filled in when the app starts: [captcha] provider and the names the enabled
    # captcha plugins register (core names no captcha plugin)
    SettingSpec("security.captcha.provider", "choice", "", "Captcha type",
                "Which captcha to show: one of the providers of the enabled captcha plugins. Default: "
                "[captcha] provider in plugdesk.toml."),
    SettingSpec("security.brute_force.enabled", "bool", True, "Brute force protection",
                "Locks an account after too many failed logins in a short time. Default: on. Turning it off "
                "lets attackers guess passwords without limit."),
    SettingSpec("security.brute_force.max_failures", "int", 10, "Failed logins before lockout",
                "Failed logins for one account within the window that lock it. Default: 10.",
                minimum=1, maximum=1000),
    SettingSpec("security.brute_force.window_seconds", "int", 300, "Counting window (seconds)",
                "How long failures are remembered. Default: 300.", minimum=1, maximum=DAY),
    SettingSpec("security.brute_force.lockout_seconds", "int", 300, "Lockout duration (seconds)",
                "How long a locked account stays locked; repeat lockouts within 24 h double it. Default: 300.",
                minimum=1, maximum=DAY),
    SettingSpec("security.brute_force.ip_limit", "str", "100 per 15 minutes", "Failed logins per address",
                "How many failed logins one IP address may make (any accounts) before it must wait, e.g. "
                "'100 per 15 minutes'. Stops one address from trying many accounts.", validate=validate_limit),
    SettingSpec("security.registration.ip_limit", "str", "20 per hour", "Registrations per address",
                "How many registration attempts one IP address may make, e.g. '20 per hour'. Each registration "
                "sends a confirmation email, so this also stops mail floods.", validate=validate_limit),
    SettingSpec("security.twofactor.required_for", "choice", "nobody", "Require two-factor login for",
                "nobody, admins, managers (managers and admins) or agents (agents, managers and admins). Those "
                "covered must set up an authenticator app or a passkey; until the grace period ends they are "
                "reminded, then they can do nothing else until they have.",
                choices=("nobody", "admins", "managers", "agents")),
    SettingSpec("security.twofactor.grace_days", "int", 7, "Two-factor grace period (days)",
                "Days the people covered have to set up a second factor, counted from when the requirement was "
                "switched on (or from when their account was created). 0 = at their next login. Default: 7.",
                minimum=0, maximum=365),
    SettingSpec("security.password_reset.enabled", "bool", True, "Enable password reset",
                "Lets users request an emailed single-use link. Never offered to accounts of external providers "
                "(LDAP/AD, single sign-on, ...)."),
    SettingSpec("security.password_reset.token_minutes", "int", 30, "Reset link lifetime (minutes)",
                "How long an emailed reset link works. Default: 30.", minimum=5, maximum=1440),
    SettingSpec("security.email_verification.token_hours", "int", 48, "Verification link lifetime (hours)",
                "How long an emailed address-confirmation link works. Default: 48.", minimum=1, maximum=720),
    SettingSpec("security.require_verified_email", "bool", False, "Require a verified email address",
                "On: customers must confirm their address before they can submit tickets or post in the "
                "community. Default: off."),
    SettingSpec("security.force_https", "bool", False, "Force all traffic over HTTPS",
                "Redirects http to https and sends HSTS (1 year). Only turn on when https works."),
    SettingSpec("security.moderate_new_users", "bool", False, "Moderate new user community posts",
                "Holds posts by new community users for approval."),
    SettingSpec("security.embedding.allowed", "bool", False, "Allow embedding",
                "Off: pages may only be framed by this site (protects against clickjacking)."),
    SettingSpec("security.embedding.origins", "list", [], "Allowed embedding origins",
                "One origin per line (https://intranet.example.com). Empty with embedding on = any site.",
                validate=parse_origins),
    SettingSpec("security.password.min_length", "int", 8, "Minimum length",
                "NIST 800-63B recommends at least 8. Maximum length is 1024.", tab="Password Requirements",
                minimum=1, maximum=1024),
    SettingSpec("security.password.require_number", "bool", False, "Require a number", "",
                tab="Password Requirements"),
    SettingSpec("security.password.require_upper", "bool", False, "Require an uppercase letter", "",
                tab="Password Requirements"),
    SettingSpec("security.password.require_lower", "bool", False, "Require a lowercase letter", "",
                tab="Password Requirements"),
    SettingSpec("security.password.require_symbol", "bool", False, "Require a symbol", "",
                tab="Password Requirements"),
    SettingSpec("security.password.disallow_username", "bool", True, "Must not equal the username",
                "Compared case-insensitively.", tab="Password Requirements"),
    SettingSpec("security.password.enforce_on_existing", "bool", False, "Enforce on existing passwords",
                "On: users whose password no longer complies must change it at their next login.",
                tab="Password Requirements"),
    SettingSpec("security.ip_blacklist", "list", [], "IP blacklist",
                "Addresses and CIDR ranges (IPv4/IPv6), one per line, that cannot leave KB feedback.",
                tab="IP Blacklist", validate=parse_ip_list, warn=ip_list_warnings),
    SettingSpec("security.blocked_senders", "list", [], "Blocked email senders",
                "Addresses (alice@example.com) or domains (@example.com, subdomains too), one per line, whose email "
                "never opens or answers a ticket: it is filed with the reason (Management › Mail › Inbound).",
                tab="IP Blacklist", validate=parse_sender_list),
    SettingSpec("security.uploads.agent_extensions", "list", ["*"], "Agents' allowed extensions",
                "One per line with the dot (.pdf), or * for all.", tab="Uploads", validate=parse_extensions),
    SettingSpec("security.uploads.max_file_mb", "int", 25, "Largest file (MiB)",
                "Files larger than this are refused with a message stating the limit. The whole request is also "
                "bounded by [server] max_request_mb. Default: 25.", tab="Uploads", minimum=1, maximum=16384),
    SettingSpec("security.uploads.user_extensions", "list",
                [".pdf", ".png", ".jpg", ".jpeg", ".gif", ".txt", ".log", ".zip", ".docx", ".xlsx"],
                "End users' allowed extensions", "One per line with the dot (.pdf), or * for all.",
                tab="Uploads", validate=parse_extensions),
]
