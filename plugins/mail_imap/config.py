"""``[plugins.mail_imap]``: the mailboxes, each bound to a department (a pydantic model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field

from core import ConfigModel


class Mailbox(ConfigModel):
    """One ``[[plugins.mail_imap.mailboxes]]`` table."""

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=0, le=65535)] = 0  # 0: 993 for tls, 143 otherwise
    security: Literal["tls", "starttls", "none"] = "tls"
    ca_file: str = ""
    tls_verify: bool = True
    username: Annotated[str, Field(min_length=1)]
    password: str = ""
    folder: str = "INBOX"
    department: Annotated[str, Field(min_length=1)]
    address: str = ""
    accept_from: Literal["anyone", "registered"] = "anyone"
    poll_seconds: Annotated[int, Field(ge=5, le=86_400)] = 60
    ack: Literal["seen", "delete", "move"] = "seen"
    move_to: str = "Processed"
    timeout_seconds: Annotated[int, Field(ge=1, le=600)] = 30
    fetch_chunk: Annotated[int, Field(ge=1, le=500)] = 25

    def real_port(self) -> int:
        """The port to connect to (the protocol's default when ``port`` is 0)."""
        return self.port or (993 if self.security == "tls" else 143)

    def ca_path(self, base: Path | None) -> Path:
        """``ca_file`` as an absolute path (relative paths are relative to plugdesk.toml's directory)."""
        path = Path(self.ca_file)
        return path if path.is_absolute() or base is None else base / path


class ImapConfig(ConfigModel):
    """``[plugins.mail_imap]``: the mailboxes to fetch from."""

    mailboxes: list[Mailbox] = []
