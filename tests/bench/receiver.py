"""A local push receiver for the benchmark: it does a recipient's part of the protocol that the
hub depends on (check the webhook signature, sign a receipt over the packet id and the digest of
the sealed bytes) and nothing else, so that it is not what limits the hub's drain rate.

BENCH_RECIPIENTS names a JSON file:
{recipient_id: {"keys_file": ..., "passphrase_file": ..., "secret": "whsec_..."}}.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from standardwebhooks import Webhook

from hub.crypto import sealed_digest, sign_receipt
from keys import load_keyset, read_passphrase
from schemas.envelope import Envelope, PacketBody

_config = json.loads(Path(os.environ["BENCH_RECIPIENTS"]).read_text())
_signers = {
    rid: load_keyset(Path(c["keys_file"]), read_passphrase(Path(c["passphrase_file"]))).signing
    for rid, c in _config.items()
}
_webhooks = {rid: Webhook(c["secret"]) for rid, c in _config.items()}

app = FastAPI()


@app.post("/packets/{recipient_id}")
async def receive(recipient_id: str, request: Request) -> dict[str, object]:
    body = await request.body()
    try:
        _webhooks[recipient_id].verify(body, dict(request.headers), json_parse=False)
    except Exception as exc:
        raise HTTPException(401) from exc
    envelope = Envelope.model_validate_json(body)
    packet = PacketBody.model_validate_json(base64.b64decode(envelope.payload))
    receipt = sign_receipt(
        packet=packet,
        sealed_sha256=sealed_digest(base64.b64decode(packet.sealed)),
        received_at=datetime.now(UTC),
        key=_signers[recipient_id],
    )
    return {"receipt": receipt.model_dump(mode="json")}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}
