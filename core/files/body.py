"""The body of a raw upload request, read with as few copies as the server allows.

:func:`request_body` returns the stream a raw upload (:func:`core.files.uploads.raw_upload`) is copied from.
Under gunicorn with a ``Content-Length`` body (what ``plugdesk serve`` runs) that is a :class:`SocketBody`:
the bytes gunicorn already buffered, then ``recv_into`` straight from the connection's socket into the
caller's buffer. gunicorn's own reader copies every byte four to six times (``recv`` -> ``BytesIO`` ->
``getvalue`` -> slices, in the unreader and again in ``Body``) and Werkzeug's ``LimitedStream`` adds a
Python layer per read: at 256 MB that was two thirds of the upload's time (issue 22).

Nothing about the request's checks changes: ``request.stream`` is still opened first, so Werkzeug raises
413 when ``Content-Length`` exceeds ``MAX_CONTENT_LENGTH``; gunicorn's ``Content-Length`` bound is the
limit read here, and its bookkeeping (bytes left, ``failed``) stays exact, so after the view returns
gunicorn drains or closes the connection as it would after its own reads. Any other server, a chunked
body or a test client gets ``request.stream`` itself.
"""

from __future__ import annotations

import io
import socket
from typing import IO, Any, cast

from flask import Request
from werkzeug.exceptions import ClientDisconnected


def request_body(request: Request) -> IO[bytes]:
    """The request body as a stream, limited to ``Content-Length`` and ``MAX_CONTENT_LENGTH``.

    :raises werkzeug.exceptions.RequestEntityTooLarge: ``Content-Length`` exceeds ``MAX_CONTENT_LENGTH``.
    """
    stream = request.stream  # checks Content-Length against MAX_CONTENT_LENGTH (413) before anything is read
    fast = SocketBody.of(request.environ)
    return cast(IO[bytes], fast) if fast is not None else stream


class SocketBody(io.RawIOBase):
    """The unread rest of a gunicorn ``Content-Length`` body, read with ``recv_into`` from its socket.

    Build it with :meth:`of`. ``readinto`` fills as much of the buffer as the body still holds (one
    ``recv_into`` with ``MSG_WAITALL`` on a plain socket), so a caller with a 1 MiB buffer handles 1 MiB per
    turn. A connection that ends early or fails (reset, timeout) raises
    :class:`werkzeug.exceptions.ClientDisconnected` (400), as Werkzeug's own stream does, and marks gunicorn's
    body failed so the connection is not reused.
    """

    def __init__(self, body: Any, reader: Any, sock: socket.socket) -> None:
        super().__init__()
        self._body = body
        self._reader = reader
        self._sock = sock
        self._flags = socket.MSG_WAITALL if type(sock) is socket.socket else 0  # SSL sockets take no flags
        # Read-ahead gunicorn holds: first what Body kept (already counted off the reader), then what the
        # socket reader buffered, of which only ``length`` bytes belong to this body (the rest is a
        # pipelined next request and goes back).
        held = body.buf.getvalue()
        body.buf = io.BytesIO()
        unreader = reader.unreader
        buffered = unreader.buf.getvalue()
        unreader.buf = io.BytesIO()
        mine, rest = buffered[:reader.length], buffered[reader.length:]
        if rest:
            unreader.buf.write(rest)
        reader.length -= len(mine)
        self._held = memoryview(held + mine if held else mine)

    @classmethod
    def of(cls, environ: dict[str, Any]) -> SocketBody | None:
        """The fast reader for this WSGI request, or ``None`` unless it is gunicorn's ``Content-Length`` body."""
        body = environ.get("wsgi.input")
        sock = environ.get("gunicorn.socket")
        if body is None or sock is None or not str(environ.get("SERVER_SOFTWARE", "")).startswith("gunicorn"):
            return None
        try:
            from gunicorn.http.body import Body, LengthReader
            from gunicorn.http.unreader import SocketUnreader
        except ImportError:  # pragma: no cover - gunicorn set the environ, so it is importable
            return None
        reader: Any = getattr(body, "reader", None)
        if (type(body) is not Body or type(reader) is not LengthReader or getattr(body, "failed", False)
                or type(reader.unreader) is not SocketUnreader or reader.unreader.sock is not sock
                or not isinstance(getattr(body, "buf", None), io.BytesIO)
                or not isinstance(getattr(reader.unreader, "buf", None), io.BytesIO)
                or not isinstance(getattr(reader, "length", None), int)):
            return None
        return cls(body, reader, sock)

    def readable(self) -> bool:
        """Always ``True``."""
        return True

    @property
    def remaining(self) -> int:
        """Bytes of the body not read yet."""
        return len(self._held) + max(0, self._reader.length)

    def readinto(self, buffer: Any) -> int:
        """Read up to ``len(buffer)`` bytes of the body into ``buffer``; ``0`` at its end."""
        view = memoryview(buffer).cast("B")
        if self._held:
            n = min(len(view), len(self._held))
            view[:n] = self._held[:n]
            self._held = self._held[n:]
            return n
        want = min(len(view), self._reader.length)
        if want <= 0:
            return 0
        try:
            n = self._sock.recv_into(view, want, self._flags)
        except (OSError, ValueError) as exc:  # reset, timed out or closed: what Werkzeug's stream reports as 400
            self._body.failed = True
            raise ClientDisconnected() from exc
        except BaseException:
            self._body.failed = True
            raise
        if n <= 0:
            self._body.failed = True
            raise ClientDisconnected()
        self._reader.length -= n
        return n

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` < 0); ``b""`` at the end of the body."""
        if size is None or size < 0:
            return self.readall()
        buffer = bytearray(min(size, self.remaining))
        n = self.readinto(buffer) if buffer else 0
        return bytes(buffer[:n])

    def readall(self) -> bytes:
        """The rest of the body."""
        buffer = bytearray(self.remaining)
        view, got = memoryview(buffer), 0
        while got < len(buffer):
            got += self.readinto(view[got:])
        return bytes(buffer)


class FastBodyRequest(Request):
    """Flask's request whose ``multipart/form-data`` body reaches Werkzeug's form parser through
    :class:`SocketBody` under gunicorn (the app's ``request_class``).

    A browser's attachment upload is a multipart form. Werkzeug's parser reads it 64 KiB at a time, and each
    of those reads went through gunicorn's unreader, which read ahead up to 1 MiB and then copied its whole
    buffer to hand out 64 KiB: 54 % of a 256 MB upload's samples, 37 MB/s where a raw-body upload ran at
    300 MB/s (issue 22). The form parser, its limits (``MAX_FORM_MEMORY_SIZE``, ``MAX_FORM_PARTS``) and the
    request's ``MAX_CONTENT_LENGTH`` check are Werkzeug's as before; only the byte source changes, and only
    when nothing read the body before (else the stream Werkzeug chose is kept).
    """

    def _get_stream_for_parsing(self) -> IO[bytes]:
        stream = super()._get_stream_for_parsing()
        if stream is self.stream and self.mimetype == "multipart/form-data":
            fast = SocketBody.of(self.environ)
            if fast is not None:
                return cast(IO[bytes], fast)
        return stream

    def _get_file_stream(self, total_content_length: int | None, content_type: str | None,
                         filename: str | None = None, content_length: int | None = None) -> IO[bytes]:
        """A file part of a body over :data:`SPOOL_FROM` bytes goes into a :class:`core.files.spool.HashingSpool`
        of the app's file service (written once, where ``ingest`` would copy it); smaller bodies, and apps
        without a storage backend, get Werkzeug's temporary file."""
        if total_content_length is not None and total_content_length > SPOOL_FROM:
            from core.app_state import state
            from core.files.service import file_service
            from core.types import StorageError

            try:
                return cast(IO[bytes], file_service(state()).spool())
            except (StorageError, RuntimeError, KeyError, OSError):
                pass  # no storage plugin, no app to ask, or its temp directory unwritable (ingest reports that)
        return super()._get_file_stream(total_content_length, content_type, filename, content_length)


#: Werkzeug keeps smaller bodies in memory (SpooledTemporaryFile); from this size a file part is spooled to disk.
SPOOL_FROM = 500 * 1024
