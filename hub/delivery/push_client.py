"""The HTTP client pushes go through: one small interface, two engines behind it.

`PushClient.post` sends one body and gives back the status and at most `cap` bytes of the answer,
read as it arrives; a longer answer, or a compressed one, is never read further. Network trouble
is raised as `PushUnreachable` (a timeout as its subclass `PushTimedOut`), so callers never see a
library's own errors. Both engines keep a pool of connections per receiver.

- `Urllib3PushClient`, the default: a pooled urllib3 `PoolManager` (docs/delivery.md, "The push
  client"); which of the two costs less CPU per push is for `make bench` to show.
- `HttpxPushClient`: httpx, kept for tests that give the hub an httpx transport (an in-process
  receiver) and as the fallback `HUB_PUSH_CLIENT=httpx` selects.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx
import urllib3

from hub.errors import HubError

__all__ = [
    "HttpxPushClient",
    "PushClient",
    "PushEngine",
    "PushReply",
    "PushTimedOut",
    "PushUnreachable",
    "Urllib3PushClient",
    "open_push_client",
]

_CHUNK = 16 * 1024

PushEngine = Literal["urllib3", "httpx"]


class PushUnreachable(HubError):
    """The receiver could not be reached or broke off; `detail` names the kind of trouble."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class PushTimedOut(PushUnreachable):
    """The receiver did not answer within the push timeout."""


@dataclass(frozen=True)
class PushReply:
    """A receiver's answer: its status, whether it came compressed, and its body.

    `body` is None when the answer was not read: a non-2xx status, a compressed answer, or one
    longer than the cap (`too_long`).
    """

    status: int
    compressed: bool = False
    body: bytes | None = None
    too_long: bool = False


class PushClient(Protocol):
    """What a push needs from HTTP: one POST with a capped answer, and closing the pool."""

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, cap: int) -> PushReply:
        """POST `body`; read at most `cap` bytes of a 2xx identity-encoded answer.

        Raises PushUnreachable (PushTimedOut for a timeout) for network trouble.
        """
        ...

    def close(self) -> None: ...


def _capped(chunks: Iterator[bytes], cap: int) -> bytes | None:
    """The joined chunks, or None as soon as they pass `cap` bytes (the rest never read)."""
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > cap:
            return None
        parts.append(chunk)
    return b"".join(parts)


def _is_compressed(encoding: str | None) -> bool:
    return (encoding or "identity").strip().lower() != "identity"


def _reply(status: int, encoding: str | None, chunks: Iterator[bytes], cap: int) -> PushReply:
    if not 200 <= status < 300:
        return PushReply(status)
    if _is_compressed(encoding):
        return PushReply(status, compressed=True)
    body = _capped(chunks, cap)
    return PushReply(status, body=body, too_long=body is None)


class Urllib3PushClient:
    """Pushes through one urllib3 pool manager: kept-alive connections, no redirects, no retries."""

    def __init__(self, *, timeout: float, connections: int) -> None:
        self._pool = urllib3.PoolManager(
            num_pools=64,
            maxsize=connections,
            block=False,
            retries=False,
            timeout=urllib3.Timeout(total=timeout),
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, cap: int) -> PushReply:
        try:
            # preload_content=False and decode_content=False: the answer is streamed as
            # received and never inflated; the connection goes back to the pool on release.
            response = self._pool.request(
                "POST",
                url,
                body=body,
                headers=dict(headers),
                redirect=False,
                preload_content=False,
                decode_content=False,
            )
        except urllib3.exceptions.NewConnectionError as exc:
            # Checked first: urllib3 makes a refused connection a subclass of its timeouts.
            raise PushUnreachable(f"connection error: {type(exc).__name__}") from exc
        except urllib3.exceptions.TimeoutError as exc:
            raise PushTimedOut("timeout") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise PushUnreachable(f"connection error: {type(exc).__name__}") from exc
        try:
            reply = _reply(
                response.status,
                response.headers.get("content-encoding"),
                response.stream(_CHUNK, decode_content=False),
                cap,
            )
        except urllib3.exceptions.TimeoutError as exc:
            response.close()
            raise PushTimedOut("timeout") from exc
        except urllib3.exceptions.HTTPError as exc:
            response.close()
            raise PushUnreachable(f"connection error: {type(exc).__name__}") from exc
        if reply.body is not None:
            response.release_conn()  # read to its end: the connection serves the next push
        else:
            response.close()  # an answer left unread is dropped with its connection, never drained
        return reply

    def close(self) -> None:
        self._pool.clear()


class HttpxPushClient:
    """Pushes through one httpx client; `transport` lets a test put a receiver in process."""

    def __init__(
        self,
        *,
        timeout: float,
        connections: int,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=connections),
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str], *, cap: int) -> PushReply:
        try:
            with self._client.stream("POST", url, content=body, headers=headers) as response:
                return _reply(
                    response.status_code,
                    response.headers.get("content-encoding"),
                    response.iter_bytes(_CHUNK),
                    cap,
                )
        except httpx.TimeoutException as exc:
            raise PushTimedOut("timeout") from exc
        except httpx.HTTPError as exc:
            raise PushUnreachable(f"connection error: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._client.close()


def open_push_client(
    engine: PushEngine,
    *,
    timeout: float,
    connections: int,
    transport: httpx.BaseTransport | None = None,
) -> PushClient:
    """The push client for `engine`; an httpx `transport` (tests) always selects httpx."""
    if transport is not None or engine == "httpx":
        return HttpxPushClient(timeout=timeout, connections=connections, transport=transport)
    return Urllib3PushClient(timeout=timeout, connections=connections)
