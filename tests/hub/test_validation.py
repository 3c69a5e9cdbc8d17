"""hub/validation.py: a reason is filled only from what the schema says, and our own validators'
fixed messages are the only messages of pydantic's errors that are kept."""

from __future__ import annotations

import re
import string

from hub.validation import OWN_TYPES, REASONS, SCHEMA_CONTEXT, field_error
from tests.conftest import ROOT


def test_every_reason_is_filled_only_from_the_schemas_part_of_an_errors_context() -> None:
    named = {
        f for reason in REASONS.values() for _, f, _, _ in string.Formatter().parse(reason) if f
    }
    assert named <= SCHEMA_CONTEXT
    assert not SCHEMA_CONTEXT & {"input", "tag", "error"}


def test_every_error_type_of_our_own_validators_keeps_its_fixed_message() -> None:
    raised = set()
    for path in (ROOT / "schemas").glob("*.py"):
        for kind, message in re.findall(
            r'PydanticCustomError\(\s*"(\w+)",\s*(f?)"', path.read_text(encoding="utf-8")
        ):
            assert not message, f"{path.name}: {kind} has an f-string message"
            raised.add(kind)
    assert raised == OWN_TYPES


def test_an_error_type_without_a_wording_says_invalid_value_never_its_message() -> None:
    error = {"type": "new_kind", "loc": ("body", "x"), "msg": "Input 'secret' is bad"}
    assert field_error(error).reason == "invalid value"
    tagged = {
        "type": "union_tag_invalid",
        "loc": ("body", "reporter"),
        "msg": "Input tag 'secret' found",
        "ctx": {"discriminator": "'kind'", "tag": "secret", "expected_tags": "'a', 'b'"},
    }
    assert (field_error(tagged).field, field_error(tagged).reason) == (
        "reporter.kind",
        "must be one of 'a', 'b'",
    )
