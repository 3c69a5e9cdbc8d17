"""What the hub says of input that does not match a schema: each of pydantic's errors as the
dotted path of the JSON member at fault and a fixed reason for its type of error.

Pydantic's own messages quote the input (`Input tag 'x' found using 'kind' …`, a UUID's
"found `Z` at 0"), and input may be report content. So a reason never comes from a message of
pydantic's: it is our wording for the error's type, filled in only with what the schema says (a
length, a bound, a pattern, the allowed values), never with anything of the value sent. An
unknown member is named by its parent's path only, since its name is input too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from hub.errors import FieldError
from schemas.report import REPORTER_KINDS

__all__ = ["OWN_TYPES", "REASONS", "field_error", "field_errors", "field_path"]

# The fixed reason per pydantic error type. `{…}` names a member of the error's context that
# pydantic fills from the schema, never from the input (SCHEMA_CONTEXT).
REASONS: dict[str, str] = {
    "missing": "required",
    "extra_forbidden": "unknown field",
    "union_tag_invalid": "must be one of {expected_tags}",
    "union_tag_not_found": "required",
    "literal_error": "must be {expected}",
    "enum": "must be one of {expected}",
    "string_type": "must be a string",
    "string_too_short": "must have at least {min_length} characters",
    "string_too_long": "must have at most {max_length} characters",
    "string_pattern_mismatch": "must match the pattern {pattern}",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "uuid_type": "must be a UUID",
    "uuid_parsing": "must be a UUID",
    "uuid_version": "must be a version {expected_version} UUID",
    "date_type": "must be a date (YYYY-MM-DD)",
    "date_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_parsing": "must be a date (YYYY-MM-DD)",
    "date_from_datetime_inexact": "must be a date (YYYY-MM-DD)",
    "datetime_type": "must be an RFC 3339 time with an offset",
    "datetime_parsing": "must be an RFC 3339 time with an offset",
    "datetime_from_date_parsing": "must be an RFC 3339 time with an offset",
    "datetime_object_invalid": "must be an RFC 3339 time with an offset",
    "timezone_aware": "must have a UTC offset (Z or +hh:mm)",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "none_required": "must be null",
    "url_type": "must be a URL",
    "url_parsing": "must be a URL",
    "url_syntax_violation": "must be a URL",
    "url_too_long": "must have at most {max_length} characters",
    "url_scheme": "must be a URL with scheme {expected_schemes}",
    "json_invalid": "not valid JSON",
    "json_type": "must be JSON text",
}
# What pydantic puts in an error's context from the schema; `tag`, `error` and `input` are the
# input's and never used.
SCHEMA_CONTEXT = frozenset(
    {
        "expected_tags",
        "expected",
        "min_length",
        "max_length",
        "pattern",
        "gt",
        "ge",
        "lt",
        "le",
        "expected_version",
        "expected_schemes",
    }
)
# The error types of our own validators (schemas/report.py's PydanticCustomError, each with a
# fixed message): their message is kept. Any other type not in REASONS says UNKNOWN.
OWN_TYPES = frozenset(
    {
        "country_code",
        "language_code",
        "future_date",
        "future_datetime",
        "contact_missing",
        "date_order",
        "too_many_ages",
        "report_id_form",
    }
)
UNKNOWN = "invalid value"  # an error type of pydantic's that no reason above is written for
# Pydantic writes a Python literal where JSON has its own words.
_JSON_WORDS = {"True": "true", "False": "false", "None": "null"}
_DISCRIMINATOR = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)'$")
_LOCATIONS = frozenset({"body", "query", "path", "header"})


def field_path(loc: Iterable[int | str]) -> str:
    """The dotted path of the JSON member at fault, as the client wrote it.

    Pydantic puts the tag of a tagged union in the path (`reporter.contact.email`); the JSON
    has no such level (`reporter.email`), so it is left out.
    """
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    parts = [
        p
        for i, p in enumerate(parts)
        if not (i and parts[i - 1] == "reporter" and p in REPORTER_KINDS)
    ]
    return ".".join(parts) or "body"


def _reason(kind: str, context: Mapping[str, Any]) -> str:
    template = REASONS.get(kind, UNKNOWN)
    values = {k: _JSON_WORDS.get(str(v), str(v)) for k, v in context.items() if k in SCHEMA_CONTEXT}
    try:
        return template.format_map(values)
    except KeyError:  # a context without the member the wording names
        return UNKNOWN


def field_error(error: Mapping[str, Any]) -> FieldError:
    """One of pydantic's errors as the path at fault and a fixed reason; never the input.

    The error types of our own validators (OWN_TYPES: a fixed message, no context) keep their
    message, which is ours.
    """
    loc = tuple(error["loc"])
    kind = str(error["type"])
    context: Mapping[str, Any] = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return FieldError(field_path(loc[:-1]), REASONS[kind])
    if kind in {"union_tag_invalid", "union_tag_not_found"}:
        # The tag is a member of the union's object: name it (`reporter.kind`).
        found = _DISCRIMINATOR.match(str(context.get("discriminator", "")))
        if found is not None:
            loc = (*loc, found.group(1))
    if kind in OWN_TYPES and not context:
        return FieldError(field_path(loc), str(error["msg"]))
    return FieldError(field_path(loc), _reason(kind, context))


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Each of pydantic's errors (`ValidationError.errors()`) as a FieldError, never the input."""
    return [field_error(e) for e in errors]
