"""A copy of the hub's database holds no usable webhook secret.

Each is AES-GCM encrypted with a key kept outside the database and bound to its recipient.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from sqlmodel import Session

from hub.errors import ConfigurationError
from hub.network.directory import DeliveryMode, set_delivery_mode
from hub.network.keyring import load_webhook_key
from hub.network.webhook_secrets import decrypt_secret
from hub.settings import Settings
from hub.store import RecipientRow, make_engine
from tests.conftest import Network

RECIPIENT = "nl-police"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"a webhook secret of 32 bytes...!").decode()


def _database_values(settings: Settings) -> list[str]:
    """Every value of every row of every table, as text: what a copy of the database yields."""
    engine = make_engine(settings.resolved_database_url)
    metadata = MetaData()
    metadata.reflect(engine)
    values = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(select(table)):
                values += [str(value) for value in row]
    engine.dispose()
    return values


def test_a_database_copy_holds_no_usable_webhook_secret(
    settings: Settings, network: Network
) -> None:
    engine = make_engine(settings.resolved_database_url)
    with Session(engine) as session:
        set_delivery_mode(
            session,
            RECIPIENT,
            DeliveryMode.push,
            push_url="https://nl-police.example.org/packets",
            webhook_secret=WEBHOOK_SECRET,
            webhook_key=load_webhook_key(settings),
        )
        session.commit()
        stored = session.get(RecipientRow, RECIPIENT)
        assert stored is not None
        assert stored.webhook_secret is not None
        ciphertext = stored.webhook_secret
    engine.dispose()
    secret_body = WEBHOOK_SECRET.removeprefix("whsec_")
    assert not any(secret_body in value for value in _database_values(settings))
    url = settings.resolved_database_url
    if url.startswith("sqlite:///"):
        database = Path(url.removeprefix("sqlite:///"))
        for path in database.parent.glob(f"{database.name}*"):
            assert secret_body.encode() not in path.read_bytes()
    # Without the key kept outside the database the value opens to nothing; with it, the secret.
    with pytest.raises(ConfigurationError):
        decrypt_secret(os.urandom(32), RECIPIENT, ciphertext)
    with pytest.raises(ConfigurationError):
        decrypt_secret(load_webhook_key(settings), "nl-section", ciphertext)
    assert decrypt_secret(load_webhook_key(settings), RECIPIENT, ciphertext) == WEBHOOK_SECRET
