"""``auth_local``: accounts with passwords kept by plugdesk (argon2id).

Owns users whose ``provider`` is ``"local"``. Unknown usernames cost one dummy argon2 verify so the
response time does not tell whether an account exists.
"""

from __future__ import annotations

from core import AuthProviderInfo, AuthResult, Identity, PluginContext, RequestInfo, UserInfo, hookimpl

PLUGDESK_HOOKS_VERSION = ">=1.0,<2"
PROVIDER = "local"


@hookimpl
def auth_providers() -> list[AuthProviderInfo]:
    """One provider: local accounts, which can register."""
    return [AuthProviderInfo(name=PROVIDER, label="Local accounts", external=False, registration=True)]


@hookimpl
def auth_authenticate(username: str, password: str, request: RequestInfo, ctx: PluginContext) -> AuthResult | None:
    """Verify a local account's password; defer (``None``) for users that are not local."""
    user = ctx.users.find(username)
    stored = ctx.credentials.get(user.id, PROVIDER) if user and user.provider == PROVIDER else None
    if user is None or stored is None:
        ctx.passwords.equal_work(password)  # the same work whether or not the account exists
        return None
    if not ctx.passwords.verify(stored, password):
        return AuthResult.denied("wrong password")
    if ctx.passwords.needs_rehash(stored):  # parameters changed since it was stored
        ctx.credentials.set(user.id, PROVIDER, ctx.passwords.hash(password))
    return AuthResult.ok(Identity(provider=PROVIDER, username=user.username, user_id=user.id,
                                  email=user.email, display_name=user.display_name))


@hookimpl
def auth_set_password(user: UserInfo, password: str, ctx: PluginContext) -> bool | None:
    """Store an argon2id hash (``ctx.passwords``) of the new password for local users."""
    if user.provider != PROVIDER:
        return None
    ctx.credentials.set(user.id, PROVIDER, ctx.passwords.hash(password))
    return True
