"""deploy/hub.env.example documents every setting the hub has, and nothing it does not have."""

from __future__ import annotations

import re

from hub.settings import Settings
from tests.conftest import ROOT


def test_the_settings_example_names_every_setting_once() -> None:
    text = (ROOT / "deploy" / "hub.env.example").read_text(encoding="utf-8")
    named = re.findall(r"^#? ?(HUB_[A-Z_]+)=", text, flags=re.MULTILINE)
    expected = sorted(f"HUB_{name.upper()}" for name in Settings.model_fields)
    missing = sorted(set(expected) - set(named))
    assert not missing, f"document these in deploy/hub.env.example: {missing}"
    assert sorted(set(named)) == expected, "deploy/hub.env.example names settings that do not exist"
    assert len(named) == len(set(named)), "a setting is listed twice"
