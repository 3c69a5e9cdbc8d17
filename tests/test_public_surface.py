"""The public names of each package are a promise: adding or removing one is a visible decision."""

from __future__ import annotations

import importlib

import pytest

SURFACES = {
    "schemas": [
        "AnonymousReporter", "Category", "Children", "ContactReporter", "CountryCode", "Gender",
        "Incident", "LanguageCode", "PlaceKind", "Report", "Reporter", "SCHEMA_FILE",
        "SCHEMA_VERSION", "SourceId", "Suspect", "report_json_schema",
    ],
    "connectors": [
        "ConfigInvalid", "ConnectorConfig", "ConnectorError", "HubAnswerInvalid", "HubClient",
        "HubRefused", "HubUnreachable", "LocalStore", "PullResult", "ReceiptOutcome",
        "StoreFailed", "load_config", "pull_once", "pull_until_empty", "read_token",
        "render_html", "render_text",
    ],
    "keys": [
        "KeyFileError", "KeySet", "PublicKeySet", "create_passphrase_file", "credential_path",
        "fingerprint", "generate_keyset", "is_legacy_keyset", "keyset_pem", "load_keyset",
        "load_public_keyset", "read_passphrase", "read_secret_file", "write_keyset",
        "write_public_keyset",
    ],
}  # fmt: skip


@pytest.mark.parametrize("package", sorted(SURFACES))
def test_each_package_exports_exactly_its_public_names(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == sorted(SURFACES[package])
    for name in module.__all__:
        assert hasattr(module, name), name
