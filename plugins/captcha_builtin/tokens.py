"""Self-contained challenge tokens: signed, with the answer encrypted, so any node can check them.

A token carries ``[nonce, purpose, expires, ciphertext]`` signed with a key derived from the app's secret
key (itsdangerous, HMAC-SHA256). The answer is encrypted with a second derived key: it is XORed with
``HMAC-SHA256(enc_key, nonce)``, a keystream that is unique per token because the nonce is random.
Anyone without the secret key can neither read the answer nor forge a token; holders of the secret key
(every node, and tests using :func:`reveal_answer`) can. Single use is enforced separately by claiming the
nonce in the limits store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

SALT = "plugdesk.captcha_builtin.v1"
MAX_TOKEN_LENGTH = 512
MAX_ANSWER_LENGTH = 32
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


class InvalidToken(ValueError):
    """The token is malformed, too long, forged or signed with another key."""


@dataclass(frozen=True)
class Challenge:
    """The decoded content of a token."""

    nonce: str
    purpose: str
    expires: int
    answer: str


def _derive(secret_key: str, label: str) -> bytes:
    return hmac.new(secret_key.encode("utf-8"), f"{SALT}:{label}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class ChallengeCodec:
    """Seals and opens challenge tokens with keys derived from the app's secret key."""

    def __init__(self, secret_key: str) -> None:
        if not secret_key:
            raise ValueError("the captcha needs the app's secret key")
        self._enc_key = _derive(secret_key, "encrypt")
        self._serializer = URLSafeSerializer(_derive(secret_key, "sign"), salt=SALT)

    def _keystream(self, nonce: str, length: int) -> bytes:
        stream = hmac.new(self._enc_key, f"answer:{nonce}".encode(), hashlib.sha256).digest()
        return stream[:length]

    def seal(self, purpose: str, answer: str, expires: int) -> str:
        """Return a new token for ``answer`` (ASCII, at most 32 characters) bound to ``purpose``."""
        if not _PURPOSE.match(purpose):
            raise ValueError(f"bad captcha purpose {purpose!r}")
        raw = answer.encode("ascii")
        if not 0 < len(raw) <= MAX_ANSWER_LENGTH:
            raise ValueError("answers are 1 to 32 ASCII characters")
        nonce = _b64(secrets.token_bytes(16))
        cipher = bytes(a ^ b for a, b in zip(raw, self._keystream(nonce, len(raw)), strict=True))
        return self._serializer.dumps([nonce, purpose, int(expires), _b64(cipher)])

    def open(self, token: str) -> Challenge:
        """Check the signature and decrypt; raise :class:`InvalidToken` for anything but a genuine token."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("missing or oversized token")
        try:
            payload = self._serializer.loads(token)
        except BadSignature:
            raise InvalidToken("bad signature") from None
        except Exception:  # malformed base64/JSON behind a valid-looking signature part
            raise InvalidToken("malformed token") from None
        try:
            nonce, purpose, expires, cipher_text = payload
            cipher = _unb64(cipher_text)
            if not isinstance(nonce, str) or not isinstance(purpose, str) or not isinstance(expires, int):
                raise TypeError
            if not 0 < len(cipher) <= MAX_ANSWER_LENGTH:
                raise ValueError
            answer = bytes(a ^ b for a, b in zip(cipher, self._keystream(nonce, len(cipher)), strict=True))
            return Challenge(nonce, purpose, expires, answer.decode("ascii"))
        except (TypeError, ValueError):
            raise InvalidToken("malformed token payload") from None


def reveal_answer(token: str, secret_key: str) -> str:
    """The answer a token carries, decrypted with the app's ``secret_key``.

    Used by the image and audio endpoints, and by tests that solve the captcha the way the server sees it.
    Raises :class:`InvalidToken` for a token that was not made with this key.
    """
    return ChallengeCodec(secret_key).open(token).answer
