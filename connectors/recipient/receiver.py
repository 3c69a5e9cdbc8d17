"""The push receiver a recipient runs (`connector serve`): the hub POSTs packets here.

For each push, in order:
1. Verify the Standard Webhooks signature and timestamp over the exact body received; a push
   signed with another secret, or replayed outside the tolerance, is refused (401).
2. Parse the body as a packet envelope.
3. Verify the hub's signature, open the packet, store the report durably, once per packet id.
4. Answer with the signed receipt, the same one again if this packet was stored before.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from standardwebhooks import Webhook
from starlette.concurrency import run_in_threadpool

from connectors.config import ConnectorConfig
from connectors.errors import ConfigInvalid
from connectors.recipient.pull import Clock, accept_packet, load_keys
from connectors.recipient.store import LocalStore
from hub.errors import PacketInvalid
from hub.logs import get_logger
from schemas.envelope import Envelope

log = get_logger(__name__)

MAX_PUSH_BYTES = 4 * 1024 * 1024


def _utc_now() -> datetime:
    return datetime.now(UTC)


def read_webhook_secret(path: Path | None) -> str:
    """Read the whsec_ secret from its file. Raises ConfigInvalid if it is missing or malformed."""
    if path is None:
        raise ConfigInvalid("webhook_secret_file is not set: this recipient cannot receive pushes")
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigInvalid(f"{path}: cannot read webhook secret ({exc.strerror})") from exc
    if not secret.startswith("whsec_"):
        raise ConfigInvalid(f"{path}: not a whsec_ webhook secret")
    return secret


def _refuse(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def create_receiver(config: ConnectorConfig, *, clock: Clock = _utc_now) -> FastAPI:
    """Build the push receiver. Raises ConfigInvalid if keys or the webhook secret are unusable."""
    keys = load_keys(config)
    webhook = Webhook(read_webhook_secret(config.webhook_secret_file))
    store = LocalStore(config.store_dir, readable=config.write_readable_reports)
    lock = threading.Lock()  # one packet at a time: a retry racing its first push stores once
    app = FastAPI(title=f"Push receiver of {config.recipient_id}", docs_url=None, redoc_url=None)

    def accept(envelope: Envelope) -> Envelope:
        with lock:
            return accept_packet(envelope, keys, store, config.recipient_id, clock)[1]

    @app.post("/packets")
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > MAX_PUSH_BYTES:
            return _refuse(413, "push too large")
        # 1.
        try:
            webhook.verify(body, dict(request.headers), json_parse=False)
        except Exception:  # the library raises several kinds for a malformed header
            log.warning("push_refused", reason="webhook signature or timestamp invalid")
            return _refuse(401, "webhook signature invalid or outside the timestamp tolerance")
        # 2.
        try:
            envelope = Envelope.model_validate_json(body)
        except ValidationError:
            log.warning("push_refused", reason="not a packet envelope")
            return _refuse(400, "not a packet envelope")
        # 3.
        try:
            receipt = await run_in_threadpool(accept, envelope)
        except PacketInvalid:
            log.warning(
                "push_refused",
                reason="packet does not verify",
                webhook_id=request.headers.get("webhook-id"),
            )
            return _refuse(422, "packet rejected: it does not verify or is not sealed to this key")
        # 4.
        return JSONResponse({"receipt": receipt.model_dump(mode="json")})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
