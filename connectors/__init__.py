"""The connectors the national parties run: the portal side submits reports, the recipient side
pulls, opens, stores and receipts them.

Uses the hub's pure layers (crypto, errors, logs), keys and schemas; see docs/protocol.md for the
exchange it implements.
"""

from connectors.client import HubClient, ReceiptOutcome
from connectors.config import ConnectorConfig, load_config, read_token
from connectors.errors import (
    ConfigInvalid,
    ConnectorError,
    HubAnswerInvalid,
    HubRefused,
    HubUnreachable,
    StoreFailed,
)
from connectors.readings.render import render_html, render_text
from connectors.recipient.pull import PullResult, pull_once, pull_until_empty
from connectors.recipient.store import LocalStore

__all__ = [
    "ConfigInvalid",
    "ConnectorConfig",
    "ConnectorError",
    "HubAnswerInvalid",
    "HubClient",
    "HubRefused",
    "HubUnreachable",
    "LocalStore",
    "PullResult",
    "ReceiptOutcome",
    "StoreFailed",
    "load_config",
    "pull_once",
    "pull_until_empty",
    "read_token",
    "render_html",
    "render_text",
]
