"""The connector a recipient runs: pull sealed packets from the hub, open and store each report
locally, and send signed receipts back. See docs/protocol.md for the exchange it implements."""

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
from connectors.pull import PullResult, pull_once, pull_until_empty
from connectors.render import render_html, render_text
from connectors.store import LocalStore

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
