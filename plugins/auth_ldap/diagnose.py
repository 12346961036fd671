"""The connection test behind ``plugdesk plugins test auth_ldap --provider NAME [--username U]``.

Each step reports the exact failure (socket error, TLS verification error, bind result, search result);
passwords never appear in the details. Steps after a failed step that depends on it are not run.
"""

from __future__ import annotations

import socket
import time

from core import DiagnosticStep
from plugins.auth_ldap import ad
from plugins.auth_ldap.directory import describe, network_error_types, run_search
from plugins.auth_ldap.provider import DirectoryProvider, fill_filter, group_keys, usable_username


def diagnose(provider: DirectoryProvider, username: str | None) -> list[DiagnosticStep]:
    """Run every step for one provider."""
    cfg = provider.cfg
    d = provider.directory
    prefix = f"{cfg.name}: "
    tls_mode = "LDAPS" if all(s.use_ssl for s in cfg.servers) else "StartTLS" if cfg.start_tls else "none"
    summary = (f"kind={cfg.kind} servers={', '.join(s.url for s in cfg.servers)} base_dn={cfg.base_dn} "
               f"tls={tls_mode} verify={'on' if cfg.tls_verify else 'OFF'} ca_file={cfg.ca_file or '(system)'} "
               f"bind={'template' if cfg.user_dn_template else cfg.bind_dn or 'anonymous'}")
    steps = [DiagnosticStep(prefix + "config", True, summary)]
    if not cfg.tls_verify:
        steps.append(DiagnosticStep(prefix + "tls warning", True, "WARNING: certificate validation is disabled "
                                    "(tls_verify = false); anyone on the network path can read passwords"))
    usable = []
    for spec in cfg.servers:
        started = time.monotonic()
        try:
            socket.create_connection((spec.host, spec.port), timeout=cfg.connect_timeout).close()
        except OSError as exc:
            steps.append(DiagnosticStep(f"{prefix}connect {spec.url}", False,
                                        f"cannot reach {spec.host}:{spec.port}: {exc.strerror or exc} "
                                        f"(after {time.monotonic() - started:.1f} s)"))
            continue
        steps.append(DiagnosticStep(f"{prefix}connect {spec.url}", True,
                                    f"TCP connection in {(time.monotonic() - started) * 1000:.0f} ms"))
        try:
            conn = d.open(spec)
        except network_error_types() as exc:
            steps.append(DiagnosticStep(f"{prefix}tls {spec.url}", False, describe(exc)))
            continue
        if spec.use_ssl or cfg.start_tls:
            cipher = conn.socket.cipher() if hasattr(conn.socket, "cipher") else None
            detail = (f"{'LDAPS' if spec.use_ssl else 'StartTLS'} established ({cipher[1] if cipher else '?'}), "
                      + ("certificate valid for " + spec.host if cfg.tls_verify else "certificate NOT verified"))
            steps.append(DiagnosticStep(f"{prefix}tls {spec.url}", True, detail))
        else:
            steps.append(DiagnosticStep(f"{prefix}tls {spec.url}", cfg.allow_plaintext,
                                        "no TLS: passwords cross the network in clear text (allow_plaintext)"))
        conn.unbind()
        usable.append(spec)
    if not usable:
        return steps
    if cfg.bind_first:
        steps.append(DiagnosticStep(prefix + "service bind", True, "no service account: users bind first "
                                    + (f"as {cfg.user_dn_template}" if cfg.user_dn_template else "by UPN")))
        if username:
            steps.append(DiagnosticStep(prefix + "user lookup", True, "needs the user's password in this mode; "
                                        "log in to test"))
        return steps
    try:
        conn, spec = d.connect(usable)
        d._service_bind(conn)
    except Exception as exc:  # noqa: BLE001 - every failure is a finding here
        steps.append(DiagnosticStep(prefix + "service bind", False, str(exc) if not isinstance(
            exc, network_error_types()) else describe(exc)))
        return steps
    who = cfg.bind_dn or "anonymous"
    steps.append(DiagnosticStep(prefix + "service bind", True, f"bound as {who} on {spec.url}"))
    try:
        try:
            base = run_search(conn, cfg.base_dn, "(objectClass=*)", ["objectClass"], scope="base")
        except Exception as exc:  # noqa: BLE001
            steps.append(DiagnosticStep(prefix + "search base", False, f"{cfg.base_dn}: {exc}"))
            return steps
        if not base.entries:
            steps.append(DiagnosticStep(prefix + "search base", False, f"{cfg.base_dn} does not exist (noSuchObject) "
                                        "or the service account cannot read it"))
            return steps
        steps.append(DiagnosticStep(prefix + "search base", True, f"{cfg.base_dn} readable"))
        if username:
            steps.append(_user_step(provider, conn, username))
    finally:
        conn.unbind()
    return steps


def _user_step(provider: DirectoryProvider, conn: object, username: str) -> DiagnosticStep:
    cfg = provider.cfg
    name = usable_username(username.strip().casefold())
    if name is None:
        return DiagnosticStep(f"{cfg.name}: user lookup", False, f"{username!r} is not a usable login name")
    if cfg.kind == "ad":
        name = ad.login_name(cfg, name)
    flt = fill_filter(cfg.user_filter, username=name)
    try:
        found = run_search(conn, cfg.base_dn, flt, provider.attributes(), scope=cfg.search_scope)
    except Exception as exc:  # noqa: BLE001
        return DiagnosticStep(f"{cfg.name}: user lookup", False, f"search {flt} failed: {exc}")
    if not found.entries:
        return DiagnosticStep(f"{cfg.name}: user lookup", False, f"no entry matches {flt} under {cfg.base_dn}")
    if len(found.entries) > 1 or found.truncated:
        return DiagnosticStep(f"{cfg.name}: user lookup", False, f"{flt} matches more than one entry "
                              f"({'; '.join(e.dn for e in found.entries)}): logins are refused")
    entry = found.entries[0]
    parts = [f"found {entry.dn}"]
    external_id = provider.external_id(entry)
    parts.append(f"{cfg.attributes['external_id']}={external_id or 'MISSING (logins refused)'}")
    parts.append(f"{cfg.attributes['email']}={entry.first(cfg.attributes['email']) or '-'}")
    if cfg.kind == "ad":
        parts.append(f"state={ad.account_refusal(entry) or 'enabled'}")
    try:
        groups = provider.groups(entry, conn)
    except Exception as exc:  # noqa: BLE001
        return DiagnosticStep(f"{cfg.name}: user lookup", False, "; ".join(parts) + f"; group lookup failed: {exc}")
    parts.append(f"groups={len(groups)}")
    role = provider.role(groups)
    if role is not None:
        mapped = sorted(set(group_keys(groups)) & set(cfg.role_map))
        parts.append(f"role={role} (from {', '.join(mapped) or 'no mapped group'})")
    ok = external_id is not None and (cfg.kind != "ad" or ad.account_refusal(entry) is None)
    return DiagnosticStep(f"{cfg.name}: user lookup", ok, "; ".join(parts))
