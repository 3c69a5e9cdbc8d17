"""Portal adapters: a portal's own form, in its own field names and language, to the common schema.

Each portal has a declarative mapping, a TOML data file in its country's folder (for example
`connectors/countries/at/portal-at.mapping.toml`), and no code of its own. A mapping says:

- `id_field`: the form field with the portal's own id of the submission. The report id is derived
  from it (UUID v5 under the portal's id), so a form sent twice is the same report to the hub.
- `fields`: form field -> report field, with an optional `type` (text, int, int_list, date,
  datetime with a strptime `format`) or a `vocabulary` that turns the portal's words into schema
  codes. Paths are dotted; `[]` marks a list (`"verdaechtige[].alter"` to
  `"suspects[].approximate_age"`); a single form block may also feed a list's first element.
- `vocabularies`: the portal's words -> codes, matched without regard to case, accents or spacing.
  `cldr = "territories"` or `"languages"` adds every country or language name in the mapping's
  languages from CLDR (through Babel), and the ISO codes themselves.
- `defaults`: report values used when the form leaves a field empty; `ignore`: form fields that are
  deliberately not carried, each with its reason in a comment.

Form fields the mapping does not know are never dropped: they are appended to the report's
free text under a marked heading, as `field: value` lines. A value that cannot be mapped, and
any schema error after mapping, raises FormInvalid naming the form field (values are not quoted:
they are report content).
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID, uuid5
from zoneinfo import ZoneInfo

import pycountry
from babel import Locale
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connectors.countries.profiles import Profile, Profiles
from connectors.errors import ConnectorError
from schemas.report import SCHEMA_VERSION, LanguageCode, Report, SourceId

__all__ = [
    "FORM_ID_NAMESPACE",
    "UNMAPPED_HEADING",
    "FieldRule",
    "FormInvalid",
    "MappingInvalid",
    "PortalMapping",
    "Vocabulary",
    "load_mapping",
    "map_form",
    "mapping_for",
    "report_paths",
]

# Namespace of report ids derived from a portal's own submission ids (UUID v5).
FORM_ID_NAMESPACE = UUID("5b3f0c1e-8d2a-5c47-9f6e-2a1d4b7c9e03")
UNMAPPED_HEADING = "--- {portal}: form fields outside the common schema ---"
_SET_BY_ADAPTER = {"schema_version", "source", "report_id"}
_MAX_LISTED = 12

Value = str | int | bool


class FormInvalid(ConnectorError):
    """A form cannot become a valid report; `errors` lists (form field, reason) pairs."""

    def __init__(self, portal: str, errors: list[tuple[str, str]]) -> None:
        self.portal = portal
        self.errors = errors
        listed = "; ".join(f"{name}: {reason}" for name, reason in errors)
        super().__init__(f"form for {portal} is invalid: {listed}")


class MappingInvalid(ConnectorError):
    """A mapping file is unreadable or inconsistent."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldRule(_Strict):
    """Where one form field goes in the report, and how its value is read."""

    to: str
    type: Literal["text", "int", "int_list", "date", "datetime"] = "text"
    format: str | None = Field(default=None, description="strptime format; default ISO 8601.")
    vocabulary: str | None = None


class Vocabulary(_Strict):
    """A portal's words for a list of codes."""

    cldr: Literal["territories", "languages"] | None = None
    entries: dict[str, Value] = Field(default_factory=dict)


class PortalMapping(_Strict):
    """The whole mapping of one portal's form."""

    portal: SourceId
    languages: list[LanguageCode] = Field(min_length=1)
    id_field: str
    fields: dict[str, Annotated[str, Field(min_length=1)] | FieldRule]
    vocabularies: dict[str, Vocabulary] = Field(default_factory=dict)
    defaults: dict[str, Value] = Field(default_factory=dict)
    ignore: list[str] = Field(default_factory=list)

    def rules(self) -> dict[str, FieldRule]:
        """Every field rule in its long form."""
        return {
            source: rule if isinstance(rule, FieldRule) else FieldRule(to=rule)
            for source, rule in self.fields.items()
        }

    @model_validator(mode="after")
    def _consistent(self) -> PortalMapping:
        targets = report_paths()
        for source, rule in self.rules().items():
            if rule.to not in targets:
                raise ValueError(f"fields.{source}: {rule.to} is not a field of the report")
            if source.count("[]") > 1 or ("[]" in source and "[]" not in rule.to):
                raise ValueError(f"fields.{source}: a list in the form needs a list in the report")
            if rule.vocabulary is not None and rule.vocabulary not in self.vocabularies:
                raise ValueError(f"fields.{source}: no vocabulary {rule.vocabulary}")
        for target in self.defaults:
            if target not in targets or "[]" in target:
                raise ValueError(f"defaults.{target}: not a field of the report outside a list")
        clashes = {self.id_field, *self.ignore} & set(self.fields)
        if clashes:
            raise ValueError(f"mapped and also id or ignored: {sorted(clashes)}")
        for name in self.vocabularies:
            _lookup(self, name)  # ambiguous entries fail here, at load, not on a form
        return self


def _leaf_paths(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        inner = [a for a in (annotation, *getattr(annotation, "__args__", ())) if a is not None]
        models = [a for a in inner if isinstance(a, type) and issubclass(a, BaseModel)]
        is_list = getattr(annotation, "__origin__", None) is list
        if models:
            for sub in models:
                yield from _leaf_paths(sub, f"{prefix}{name}{'[]' if is_list else ''}.")
        else:
            yield f"{prefix}{name}"


@functools.cache
def report_paths() -> frozenset[str]:
    """Every report field a mapping may fill, e.g. 'incident.place_kind', 'suspects[].name'."""
    return frozenset(_leaf_paths(Report, "")) - _SET_BY_ADAPTER


def _normal(text: str) -> str:
    # Case, accents and spacing differ between what a portal offers and what it sends.
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


@functools.cache
def _cldr_entries(kind: str, languages: tuple[str, ...]) -> dict[str, Value]:
    # CLDR's names do not change while the process runs; normalising ~250 of them per language
    # is the costly part of reading a mapping.
    found: dict[str, Value] = {}
    ambiguous: set[str] = set()
    for language in languages:
        names = getattr(Locale.parse(language), kind)
        for code, name in names.items():
            if kind == "territories":
                if not re.fullmatch(r"[A-Z]{2}", code) or not pycountry.countries.get(alpha_2=code):
                    continue
            elif not re.fullmatch(r"[a-z]{2}", code):
                continue
            key = _normal(name)
            if found.get(key, code) != code:
                ambiguous.add(key)
            found[key] = code
            found[_normal(code)] = code
    return {key: code for key, code in found.items() if key not in ambiguous}


def _lookup(mapping: PortalMapping, name: str) -> dict[str, Value]:
    vocabulary = mapping.vocabularies[name]
    table = _cldr_entries(vocabulary.cldr, tuple(mapping.languages)) if vocabulary.cldr else {}
    explicit: dict[str, Value] = {}
    for word, code in vocabulary.entries.items():
        key = _normal(word)
        if explicit.get(key, code) != code:
            raise ValueError(f"vocabularies.{name}: {word!r} means two different codes")
        explicit[key] = code
    # The portal's own words win over CLDR's names.
    return {**table, **explicit}


def load_mapping(path: Path) -> PortalMapping:
    """Read a mapping file. Raises MappingInvalid naming the file and what is wrong."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MappingInvalid(f"{path}: cannot read mapping ({exc})") from exc
    try:
        return PortalMapping.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()
        )
        raise MappingInvalid(f"{path}: invalid mapping ({problems})") from exc


def mapping_for(portal_id: str, profiles: Profiles) -> tuple[PortalMapping, Profile]:
    """A portal's mapping and the profile it belongs to.

    Raises ProfileNotFound for an unknown portal, MappingInvalid for a bad mapping file.
    """
    profile, portal = profiles.portal(portal_id)
    mapping = load_mapping(profile.path(portal.mapping))
    if mapping.portal != portal_id:
        raise MappingInvalid(f"{portal.mapping}: maps portal {mapping.portal}, not {portal_id}")
    return mapping, profile


@dataclass(frozen=True)
class _Leaf:
    pattern: str  # 'verdaechtige[].alter'
    shown: str  # 'verdaechtige[2].alter', as the form's author would find it
    index: int | None
    value: Any


def _leaves(
    node: Any, pattern: str = "", shown: str = "", index: int | None = None
) -> Iterator[_Leaf]:
    if isinstance(node, dict):
        for key, value in node.items():
            dot = "." if pattern else ""
            yield from _leaves(value, f"{pattern}{dot}{key}", f"{shown}{dot}{key}", index)
    elif (
        isinstance(node, list) and node and all(isinstance(i, dict) for i in node) and index is None
    ):
        for position, item in enumerate(node):
            yield from _leaves(item, f"{pattern}[]", f"{shown}[{position + 1}]", position)
    else:
        yield _Leaf(pattern, shown, index, node)


def _empty(value: Any) -> bool:
    return (
        value is None
        or value == []
        or value == {}
        or (isinstance(value, str) and not value.strip())
    )


def _ignored(pattern: str, ignore: list[str]) -> bool:
    return any(pattern == name or pattern.startswith(f"{name}.") for name in ignore)


def _example(fmt: str) -> str:
    return datetime(2026, 12, 31, 23, 59).strftime(fmt)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError("expected text")


def _int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*\d{1,6}\s*", value):
        return int(value)
    raise ValueError("expected a whole number")


def _convert(rule: FieldRule, value: Any, table: dict[str, Value] | None, zone: str) -> Any:
    """The report value for one form value. Raises ValueError with a reason, not the value."""
    if table is not None:
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise ValueError(f"expected one of the words of vocabulary {rule.vocabulary}")
        code = table.get(_normal(str(value)))
        if code is None:
            raise ValueError(f"not in vocabulary {rule.vocabulary}")
        return code
    if rule.type == "int":
        return _int(value)
    if rule.type == "int_list":
        items = value if isinstance(value, list) else re.split(r"[,;/\s]+", _text(value))
        try:
            return [_int(item) for item in items if not _empty(item)]
        except ValueError:
            raise ValueError("expected whole numbers separated by commas") from None
    text = _text(value)
    if rule.type == "date":
        try:
            parsed = datetime.strptime(text, rule.format or "%Y-%m-%d")
        except ValueError:
            raise ValueError(
                f"expected a date like {_example(rule.format or '%Y-%m-%d')}"
            ) from None
        return parsed.date().isoformat()
    if rule.type == "datetime":
        try:
            moment = (
                datetime.strptime(text, rule.format)
                if rule.format
                else datetime.fromisoformat(text)
            )
        except ValueError:
            like = _example(rule.format) if rule.format else "2026-12-31T23:59:00+01:00"
            raise ValueError(f"expected a date and time like {like}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=ZoneInfo(zone))
        return moment.isoformat()
    return text


@dataclass
class _Draft:
    """The report being built, and where each of its fields came from."""

    data: dict[str, Any] = field(default_factory=dict)
    lists: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)  # report path -> form field
    errors: list[tuple[str, str]] = field(default_factory=list)
    unmapped: list[tuple[str, Any]] = field(default_factory=list)

    def set(self, target: str, value: Any, index: int | None, shown: str) -> None:
        if "[]" in target:
            name, rest = target.split("[].", 1)
            item = self.lists.setdefault(name, {}).setdefault(index or 0, {})
            _put(item, rest, value)
            self.origin[f"{name}.{index or 0}.{rest}"] = shown
        else:
            _put(self.data, target, value)
            self.origin[target] = shown

    def has(self, target: str) -> bool:
        node: Any = self.data
        for part in target.split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True


def _put(node: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _render_unmapped(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_render_unmapped(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _report_id(mapping: PortalMapping, form_id: str) -> str:
    """The form's own id if it is a random UUID, else one derived from it, the same every time.

    The hub takes version 4 UUIDs only, so the derived id is a name-based (version 5) UUID with
    its version bits set to 4. It is as guessable as the form id it comes from.
    """
    try:
        chosen = UUID(form_id)
    except ValueError:
        chosen = None
    if chosen is not None and chosen.version == 4:
        return str(chosen)
    derived = uuid5(FORM_ID_NAMESPACE, f"{mapping.portal}:{form_id}")
    return str(UUID(bytes=derived.bytes, version=4))


def _place_free_text(draft: _Draft, portal: str) -> None:
    if not draft.unmapped:
        return
    lines = [UNMAPPED_HEADING.format(portal=portal)]
    lines += [f"{name}: {_render_unmapped(value)}" for name, value in draft.unmapped]
    written = draft.data.get("free_text")
    draft.data["free_text"] = "\n".join([written, "", *lines] if written else lines)
    draft.origin.setdefault("free_text", ", ".join(name for name, _ in draft.unmapped))


def _generic(path: str) -> str:
    """'suspects.0.name' -> 'suspects[].name'; 'children.approximate_ages.1' -> its list field."""
    parts: list[str] = []
    for part in path.split("."):
        if part.isdigit() and parts:
            parts[-1] += "[]"
        elif not part.isdigit():
            parts.append(part)
    generic = ".".join(parts)
    return generic if generic in report_paths() else generic.removesuffix("[]")


def _schema_errors(
    exc: ValidationError, draft: _Draft, rules: dict[str, FieldRule]
) -> list[tuple[str, str]]:
    """Pydantic's errors, each located at the form field it came from where there is one."""
    sources: dict[str, list[str]] = {}
    for source, rule in rules.items():
        sources.setdefault(rule.to, []).append(source)
    found = []
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        if loc[:1] == ["reporter"] and loc[1:2] in (["anonymous"], ["contact"]):
            del loc[1]  # the union's tag is not a field anybody wrote
        path = ".".join(loc)
        generic = _generic(path)
        written = draft.origin.get(path) or draft.origin.get(generic)
        if written is None and generic in sources:
            written = " / ".join(sources[generic])
        found.append((f"{written} ({path})" if written else path, str(error["msg"])))
    return found


def map_form(
    form: dict[str, Any], mapping: PortalMapping, *, now: datetime, timezone: str = "UTC"
) -> Report:
    """Turn a portal's form into a validated report.

    `now` is used as the submission time when the form has none; `timezone` reads the form's
    times that carry no UTC offset. Raises FormInvalid listing every field at fault.
    """
    rules = mapping.rules()
    tables = {name: _lookup(mapping, name) for name in mapping.vocabularies}
    draft = _Draft()
    form_id: str | None = None
    for leaf in _leaves(form):
        if _empty(leaf.value) or _ignored(leaf.pattern, mapping.ignore):
            continue
        if leaf.pattern == mapping.id_field:
            form_id = str(leaf.value).strip()
            continue
        rule = rules.get(leaf.pattern)
        if rule is None:
            draft.unmapped.append((leaf.shown, leaf.value))
            continue
        table = tables[rule.vocabulary] if rule.vocabulary else None
        try:
            value = _convert(rule, leaf.value, table, timezone)
        except ValueError as exc:
            draft.errors.append((leaf.shown, str(exc)))
            continue
        draft.set(rule.to, value, leaf.index, leaf.shown)
    if form_id is None:
        draft.errors.append((mapping.id_field, "missing: the portal's id of the submission"))
    if draft.errors:
        raise FormInvalid(mapping.portal, draft.errors)
    for target, value in mapping.defaults.items():
        if not draft.has(target):
            _put(draft.data, target, value)
    for name, items in draft.lists.items():
        draft.data[name] = [items[i] for i in sorted(items)]
    _place_free_text(draft, mapping.portal)
    draft.data.setdefault("submitted_at", now.isoformat())
    assert form_id is not None
    draft.data |= {
        "schema_version": SCHEMA_VERSION,
        "source": mapping.portal,
        "report_id": _report_id(mapping, form_id),
    }
    try:
        return Report.model_validate(draft.data)
    except ValidationError as exc:
        raise FormInvalid(mapping.portal, _schema_errors(exc, draft, rules)) from exc
