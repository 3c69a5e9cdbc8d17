"""Run the hub's application under uvicorn, in the foreground or on a background thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from hub.errors import ConfigurationError


def _config(
    app: FastAPI, host: str, port: int, tls: tuple[Path, Path] | None = None
) -> uvicorn.Config:
    certificate, key = tls if tls is not None else (None, None)
    # The stack is chosen, not found: uvicorn would take uvloop and httptools if they were
    # installed, and the benchmark's ratios hold for this stack on both sides (docs/benchmark.md).
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="asyncio",
        http="h11",
        log_config=None,
        access_log=False,
        ssl_certfile=certificate,
        ssl_keyfile=key,
    )


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Serve until interrupted."""
    uvicorn.Server(_config(app, host, port)).run()


@contextmanager
def serving(
    app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """Serve on a background thread; yield the base URL; stop cleanly on exit.

    Port 0 picks a free port; `tls` (a certificate file and its key file) serves https. Raises
    ConfigurationError if the server does not start in 20 s.
    """
    server = uvicorn.Server(_config(app, host, port, tls))
    thread = threading.Thread(target=server.run, name="hub-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigurationError(f"the hub did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
