"""The bench's push receiver starts with the keys of the demo network that the bench provisions:
`make bench` is not part of `make test`, so this is what catches a change to how members' key
files are opened (since they need a passphrase) that the receiver did not follow."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from hub.cli.demo import provision_demo
from hub.network.keyring import create_hub_keys
from hub.settings import Settings
from hub.store import upgrade
from tests.bench.__main__ import PUSH, _receiver


def test_the_push_receiver_opens_the_demo_recipients_keys_and_refuses_an_unsigned_packet(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    settings = Settings(data_dir=tmp_path / "hub-data", database_url=url)
    upgrade(url)
    create_hub_keys(settings)
    listing = json.loads(
        provision_demo(settings, tmp_path / "parties", hub_url="http://x").read_text()
    )
    receiver, secrets = _receiver(tmp_path, listing)
    assert sorted(secrets) == sorted(PUSH)
    try:
        receiver.start()
        answer = httpx.post(f"{receiver.url}/packets/{PUSH[0]}", content=b"{}", timeout=10)
    finally:
        receiver.stop()
    assert answer.status_code == 401
