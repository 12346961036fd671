"""Throwaway real directory servers for the auth_ldap tests and benchmark (recipes: shared/RECIPES.md §1, §2).

``start_slapd`` runs OpenLDAP on free ports (LDAP + StartTLS, LDAPS, and LDAPS on 127.0.0.2 for the
hostname-mismatch test). ``start_samba_ad`` provisions a Samba AD DC serving LDAP on 127.0.0.1:389/636
(fixed ports, root only). Both raise ``RuntimeError`` with the server log when they cannot start.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.realservers import free_port, port_open, spawn, stop, wait_until

BASE = "dc=example,dc=org"
ADMIN = (f"cn=admin,{BASE}", "admin-Pw-1")
READER = (f"cn=reader,{BASE}", "Reader#Pw1")
LDAP_USERS: dict[str, dict[str, Any]] = {
    # key: (rdn, uid, password, mail, ou)
    "alice": {"rdn": "uid=alice", "uid": "alice", "pw": "Alice#Pw1", "mail": "alice@example.org", "cn": "Alice Adams"},
    "bob": {"rdn": "uid=bob", "uid": "bob", "pw": "Bob#Pw1", "mail": "bob@example.org", "cn": "Bob Baker"},
    "dora": {"rdn": "uid=dora", "uid": "dora", "pw": "Dora#Pw1", "mail": None, "cn": "Dora Dunn"},
    "twin1": {"rdn": "uid=twin", "uid": "twin", "pw": "Twin#Pw1", "mail": "twin1@example.org", "cn": "Twin One"},
    "twin2": {"rdn": "uid=twin", "uid": "twin", "pw": "Twin#Pw1", "mail": "twin2@example.org", "cn": "Twin Two",
              "ou": "staff"},
    # a login name full of DN specials: the DN needs RFC 4514 escaping
    "special": {"rdn": 'uid=o\\,\\+\\=\\"\\<\\>\\;', "uid": 'o,+="<>;', "pw": "Special#Pw1",
                "mail": "special@example.org", "cn": "Special"},
    # a login name full of filter specials: the filter needs RFC 4515 escaping
    "star": {"rdn": "cn=star", "uid": "st*r(x)\\y", "pw": "Star#Pw1", "mail": "star@example.org", "cn": "star"},
}
GROUPS = {"helpdesk": ["alice"], "managers": ["bob"]}

SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
database mdb
maxsize 104857600
suffix "{base}"
rootdn "{admin_dn}"
rootpw {rootpw}
directory {d}/data
index objectClass,uid,mail,cn eq
index member eq
access to attrs=userPassword by self write by anonymous auth by * none
access to * by * read
"""


def ssha(password: str) -> str:
    """An OpenLDAP ``{SSHA}`` hash (no slappasswd subprocess)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def user_dn(key: str) -> str:
    """The DN of one of :data:`LDAP_USERS`."""
    u = LDAP_USERS[key]
    return f"{u['rdn']},ou={u.get('ou', 'people')},{BASE}"


@dataclass
class Slapd:
    """A running slapd: ports, CA, admin credentials; ``stop()`` ends it."""

    port: int
    ldaps_port: int
    alt_ldaps_port: int  # LDAPS on 127.0.0.2: the certificate does not name that address
    ca: str
    proc: subprocess.Popen[bytes]
    log: Path
    base: str = BASE
    admin: tuple[str, str] = ADMIN
    reader: tuple[str, str] = READER
    users: dict[str, dict[str, Any]] = field(default_factory=lambda: LDAP_USERS)

    @property
    def ldap_url(self) -> str:
        """Plain LDAP (use with StartTLS)."""
        return f"ldap://127.0.0.1:{self.port}"

    @property
    def ldaps_url(self) -> str:
        """LDAPS."""
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def admin_conn(self) -> Any:
        """An ldap3 connection bound as the rootdn (to add, rename and delete test entries)."""
        from ldap3 import Connection, Server

        return Connection(Server("127.0.0.1", port=self.port), *self.admin, auto_bind=True)

    def stop(self) -> None:
        """SIGTERM and reap."""
        stop(self.proc)


def _ldif() -> str:
    parts = [f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n"]
    for ou in ("people", "staff", "groups"):
        parts.append(f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n")
    parts.append(f"dn: {READER[0]}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
                 f"cn: reader\nuserPassword: {ssha(READER[1])}\n")
    for key, u in LDAP_USERS.items():
        uid = u["uid"]
        uid_line = f"uid:: {base64.b64encode(uid.encode()).decode()}"
        entry = (f"dn: {user_dn(key)}\nobjectClass: inetOrgPerson\n{uid_line}\ncn: {u['cn']}\n"
                 f"sn: {u['cn'].split()[-1]}\nuserPassword: {ssha(u['pw'])}\n")
        if u["mail"]:
            entry += f"mail: {u['mail']}\n"
        parts.append(entry)
    for group, members in GROUPS.items():
        lines = "".join(f"member: {user_dn(m)}\n" for m in members)
        parts.append(f"dn: cn={group},ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: {group}\n{lines}")
    return "\n".join(parts)


def start_slapd(workdir: Path, certs: dict[str, str]) -> Slapd:
    """Configure, load and start slapd; raise RuntimeError (with the log) if it does not answer."""
    if not shutil.which("slapd"):
        raise RuntimeError("slapd is not installed: apt-get install -y slapd ldap-utils")
    d = workdir / f"slapd-{secrets.token_hex(3)}"
    (d / "data").mkdir(parents=True)
    conf = d / "slapd.conf"
    conf.write_text(SLAPD_CONF.format(d=d, base=BASE, admin_dn=ADMIN[0], rootpw=ssha(ADMIN[1]), **certs))
    (d / "base.ldif").write_text(_ldif())
    load = subprocess.run(["slapadd", "-f", str(conf), "-l", str(d / "base.ldif")], capture_output=True, text=True)
    if load.returncode:
        raise RuntimeError(f"slapadd failed ({load.returncode}):\n{load.stdout}\n{load.stderr}")
    port, sport, alt = free_port(), free_port(), free_port()
    log = d / "slapd.log"
    urls = f"ldap://127.0.0.1:{port}/ ldaps://127.0.0.1:{sport}/ ldaps://127.0.0.2:{alt}/"
    proc = spawn(["slapd", "-d", "0", "-f", conf, "-h", urls], log)
    from ldap3 import Connection, Server

    try:
        wait_until(lambda: Connection(Server("127.0.0.1", port=port, connect_timeout=1), *READER,
                                      auto_bind=True).unbind() or True, proc, "slapd", timeout=20, log=log)
    except (RuntimeError, TimeoutError) as exc:
        stop(proc)
        raise RuntimeError(f"slapd did not start: {exc}\n--- log ---\n{log.read_text(errors='replace')[-3000:]}") \
            from None
    return Slapd(port=port, ldaps_port=sport, alt_ldaps_port=alt, ca=certs["ca"], proc=proc, log=log)


# ----------------------------------------------------------------------------- Samba AD DC
AD_REALM = "EXAMPLE.TEST"
AD_DOMAIN = "example.test"
AD_BASE = "DC=example,DC=test"
AD_ADMIN_PW = "Passw0rd!Admin"
AD_SERVICE = ("svc-plugdesk@example.test", "Svc#Pass1")
AD_USERS = {
    "alice": "Alice#Pass1",   # enabled, in group helpdesk (-> agent) and managers via nesting
    "bob": "Bob#Pass1",       # disabled
    "dave": "Dave#Pass1",     # must change password at next logon
    "erin": "Erin#Pass1",     # account expired
    "frank": "Frank#Pass1",   # locked out
    "gina": "Gina#Pass1",     # used for wrong-password tests
    "henry": "Henry#Pass1",   # lives in OU=Staff
}


@dataclass
class SambaAD:
    """A running Samba AD DC (LDAP only) on 127.0.0.1:389/636."""

    ca: str
    proc: subprocess.Popen[bytes]
    conf: Path
    log: Path
    base: str = AD_BASE
    domain: str = AD_DOMAIN
    service: tuple[str, str] = AD_SERVICE
    users: dict[str, str] = field(default_factory=lambda: AD_USERS)

    def tool(self, *args: str) -> str:
        """Run ``samba-tool ... -s smb.conf``; raise with its output on failure."""
        out = subprocess.run(["samba-tool", *args, "-s", str(self.conf)], capture_output=True, text=True)
        if out.returncode:
            raise RuntimeError(f"samba-tool {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
        return out.stdout

    def stop(self) -> None:
        """SIGTERM and reap."""
        stop(self.proc)


def start_samba_ad(workdir: Path, certs: dict[str, str]) -> SambaAD:
    """Provision and start a Samba AD DC with the test users; raise RuntimeError with the log on failure."""
    if os.geteuid() != 0:
        raise RuntimeError("the Samba AD DC needs root (it can only listen on the fixed ports 389/636)")
    if not shutil.which("samba") or not shutil.which("samba-tool"):
        raise RuntimeError("samba is not installed: apt-get install -y samba samba-ad-dc krb5-user winbind")
    for p in (389, 636):
        try:
            port_open(p)
        except OSError:
            continue
        raise RuntimeError(f"port {p} on 127.0.0.1 is already in use; the Samba AD DC needs it")
    d = workdir / f"ad-{secrets.token_hex(3)}"
    (d / "run").mkdir(parents=True)
    (d / "log").mkdir()
    opts = {"interfaces": "127.0.0.1", "bind interfaces only": "yes", "server services": "ldap",
            "pid directory": d / "run", "ncalrpc dir": d / "run/ncalrpc",
            "winbindd socket directory": d / "run/winbindd", "log file": d / "log/%m.log",
            "tls certfile": certs["cert"], "tls keyfile": certs["key"], "tls cafile": certs["ca"]}
    prov = subprocess.run(["samba-tool", "domain", "provision", "--use-rfc2307", f"--realm={AD_REALM}",
                           "--domain=EXAMPLE", "--server-role=dc", "--dns-backend=NONE", "--host-name=dc1",
                           f"--adminpass={AD_ADMIN_PW}", f"--targetdir={d}",
                           *[f"--option={k}={v}" for k, v in opts.items()]], capture_output=True, text=True)
    if prov.returncode:
        raise RuntimeError(f"samba-tool domain provision failed:\n{prov.stdout[-3000:]}\n{prov.stderr[-3000:]}")
    conf = d / "etc/smb.conf"
    conf.write_text(conf.read_text().replace("[global]\n", "[global]\n\tldap server require strong auth = no\n", 1))
    log = d / "samba.log"
    proc = spawn(["samba", "-i", "-M", "single", "--maximum-runtime=3600", "-s", conf], log)
    from ldap3 import Connection, Server

    server = SambaAD(ca=certs["ca"], proc=proc, conf=conf, log=log)
    try:
        wait_until(lambda: Connection(Server("127.0.0.1", port=389, connect_timeout=1), auto_bind=True).unbind()
                   or True, proc, "samba", timeout=60, log=log)
        _populate(server)
    except Exception as exc:
        stop(proc)
        raise RuntimeError(f"Samba AD DC did not start: {exc}\n--- log ---\n"
                           f"{log.read_text(errors='replace')[-3000:]}") from None
    return server


def _populate(ad: SambaAD) -> None:
    ad.tool("domain", "passwordsettings", "set", "--account-lockout-threshold=3", "--account-lockout-duration=30",
            "--reset-account-lockout-after=30")
    ad.tool("ou", "create", f"OU=Staff,{AD_BASE}")
    ad.tool("user", "create", "svc-plugdesk", AD_SERVICE[1], "--description=plugdesk service account")
    for user, pw in AD_USERS.items():
        extra = ["--userou=OU=Staff"] if user == "henry" else []
        if user == "dave":
            extra.append("--must-change-at-next-login")
        ad.tool("user", "create", user, pw, f"--mail-address={user}@example.test",
                f"--given-name={user.title()}", "--surname=Tester", *extra)
    ad.tool("user", "disable", "bob")
    ad.tool("user", "setexpiry", "erin", "--days=0")
    ad.tool("group", "add", "helpdesk")
    ad.tool("group", "add", "managers")
    ad.tool("group", "addmembers", "helpdesk", "alice")
    ad.tool("group", "addmembers", "managers", "helpdesk")  # nested: alice is a manager through helpdesk
    from ldap3 import Connection, Server

    for _ in range(4):  # lock frank out: threshold 3
        Connection(Server("127.0.0.1", port=389), "frank@example.test", "wrong-password").bind()
