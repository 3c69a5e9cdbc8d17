"""Verify the audit log, offline: from the hub's database, an exported file, or a live hub.

What is checked, in order (each failure is a named problem; the verdict lists them all):
1. Entries sit at indices 0, 1, 2, ... with none missing, and each says it is the entry at its
   index (a deleted, inserted or moved row breaks this).
2. Each entry is JSON of a known kind of event, its leaf hash is SHA-256(0x00 || its bytes), and
   its look-up columns agree with it (an edited row breaks this).
3. Every signed tree head verifies with a trusted hub key and its root is the RFC 6962 root of
   the entries below its size, so each is consistent with the ones before (all roots come from
   the same entries), and with the last tree head this verifier saw. A live hub's own
   consistency and inclusion proofs are checked too.
4. Replaying the log, every recipient's signed receipt verifies with a receipt key that the log
   registered for that recipient before it and had not revoked, and names the packet and digest
   the log says were sealed.
Entries newer than the newest signed tree head are not yet covered by a signature: a warning.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import httpx
from nacl.signing import SigningKey, VerifyKey
from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError
from sqlalchemy import Engine
from sqlmodel import Session

from connectors.client import transport_reason
from connectors.recipient.trust import extend_trust
from hub import merkle
from hub.audit import log as audit
from hub.audit.events import EVENT_KINDS, KeyRegistered, KeyRevoked, PacketSealed, ReceiptVerified
from hub.audit.high_water import check_not_behind
from hub.audit.log import (
    AuditCheck,
    AuditEntry,
    ConsistencyProof,
    InclusionProof,
    SignedTreeHead,
)
from hub.crypto import verify_envelope, verify_receipt
from hub.errors import ConfigurationError, PacketInvalid, ProofInvalid
from hub.logs import get_logger
from keys import fingerprint
from schemas.envelope import TREE_HEAD_TYPE, PublishedHubKeys, TreeHeadBody

__all__ = [
    "EXPORT_FORMAT",
    "AuditVerdict",
    "ExportedLog",
    "LiveLog",
    "audit_round",
    "export_log",
    "fetch_live",
    "format_verdict",
    "read_export",
    "rolled_back",
    "sign_round",
    "trusted_hub_keys",
    "verify_log",
    "verify_stored",
]

log = get_logger(__name__)

EXPORT_FORMAT = "ctt-hub-audit-log/1"
_INCLUSION_SPOT_CHECKS = 100
_PAGE = 5000  # rows read at once from the hub's own database


class ExportedLog(BaseModel):
    """The whole log as `hub audit export` writes it: entries, signed tree heads, hub keys."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["ctt-hub-audit-log/1"]
    exported_at: AwareDatetime
    entries: list[AuditEntry]
    tree_heads: list[SignedTreeHead]
    hub_keys: PublishedHubKeys


class AuditVerdict(BaseModel):
    """What a verification found."""

    model_config = ConfigDict(extra="forbid")

    verified: bool
    entries: int
    signed_size: int
    latest: SignedTreeHead | None
    tree_heads_checked: int
    receipts_checked: int
    problems: list[str]
    warnings: list[str]


@dataclass
class _Replay:
    """Recipients' receipt keys and sealed packets as the log has told them so far."""

    receipt_keys: dict[str, dict[str, VerifyKey]] = field(default_factory=dict)
    sealed: dict[str, tuple[str, str]] = field(default_factory=dict)
    receipts: int = 0


def trusted_hub_keys(
    published: PublishedHubKeys, pinned: Mapping[str, VerifyKey] | None
) -> dict[str, VerifyKey]:
    """The hub keys to trust: all published ones (the hub's own history), or, given a pinned
    key, that key and every later key endorsed by a trusted one (the connector's rule)."""
    if pinned is not None:
        return extend_trust(pinned, published)
    return {
        k.key_id: VerifyKey(base64.b64decode(k.public_key))
        for k in published.keys
        if fingerprint("ed25519", base64.b64decode(k.public_key)) == k.key_id
    }


def verify_log(
    entries: Sequence[AuditEntry],
    heads: Sequence[SignedTreeHead],
    published: PublishedHubKeys,
    trusted: Mapping[str, VerifyKey],
    *,
    last_seen: SignedTreeHead | None = None,
) -> AuditVerdict:
    """Check the log as the module docstring says; never raises for what it finds."""
    problems: list[str] = []
    warnings: list[str] = []
    # 1. and 2.
    hashes = _check_entries(entries, problems)
    replay = _Replay()
    for item in entries:
        _replay(item, replay, problems)
    # 3.
    verified_heads = _check_heads(heads, hashes, published, trusted, problems)
    if last_seen is not None and last_seen.tree_size > len(hashes):
        problems.insert(0, rolled_back(len(hashes), last_seen))
    elif last_seen is not None:
        _check_against(last_seen, hashes, "the tree head this verifier saw before", problems)
    latest = verified_heads[-1] if verified_heads else None
    signed = latest.tree_size if latest else 0
    if latest is None and entries:
        warnings.append("no signed tree head yet: nothing signed vouches for these entries")
    elif len(entries) > signed:
        warnings.append(
            f"{len(entries) - signed} entries are newer than the latest signed tree head "
            "and not yet covered by a signature"
        )
    return AuditVerdict(
        verified=not problems,
        entries=len(entries),
        signed_size=signed,
        latest=latest,
        tree_heads_checked=len(verified_heads),
        receipts_checked=replay.receipts,
        problems=problems,
        warnings=warnings,
    )


def _check_entries(entries: Sequence[AuditEntry], problems: list[str]) -> list[bytes]:
    hashes: list[bytes] = []
    ordered = sorted(entries, key=lambda e: e.leaf_index)
    expected = 0
    for item in ordered:
        if item.leaf_index != expected:
            if item.leaf_index < expected:
                problems.append(f"entry {item.leaf_index} appears twice")
                continue
            problems.append(
                f"entries {expected} to {item.leaf_index - 1} are missing (deleted)"
                if item.leaf_index - 1 > expected
                else f"entry {expected} is missing (deleted)"
            )
        expected = item.leaf_index + 1
        data = item.entry.encode("utf-8")
        computed = merkle.leaf_hash(data)
        hashes.append(computed)
        if computed.hex() != item.leaf_hash:
            problems.append(f"entry {item.leaf_index} does not match its leaf hash (changed)")
        try:
            body = json.loads(data)
        except ValueError:
            problems.append(f"entry {item.leaf_index} is not JSON (changed)")
            continue
        if not isinstance(body, dict):
            problems.append(f"entry {item.leaf_index} is not an entry (changed)")
            continue
        if body.get("index") != item.leaf_index:
            problems.append(
                f"entry {item.leaf_index} says it is entry {body.get('index')} (moved or inserted)"
            )
        _check_columns(item, body, problems)
    return hashes


def _check_columns(item: AuditEntry, body: dict[str, object], problems: list[str]) -> None:
    event = body.get("event")
    event = event if isinstance(event, dict) else {}
    at = body.get("at")
    agrees = (
        body.get("kind") == item.kind
        and isinstance(at, str)
        and datetime.fromisoformat(at) == item.at
        and event.get("report_id") == item.report_id
        and event.get("recipient_id") == item.recipient_id
    )
    if not agrees:
        problems.append(f"entry {item.leaf_index}: its columns disagree with its content (changed)")


def _replay(item: AuditEntry, replay: _Replay, problems: list[str]) -> None:
    try:
        body = json.loads(item.entry)
        audit_event = EVENT_KINDS[body["kind"]].model_validate(body["event"])
    except (ValueError, KeyError, TypeError, ValidationError):
        problems.append(f"entry {item.leaf_index} is not a known kind of event")
        return
    if isinstance(audit_event, KeyRegistered) and audit_event.purpose == "receipt":
        raw = base64.b64decode(audit_event.public_key)
        if fingerprint("ed25519", raw) != audit_event.key_id:
            problems.append(f"entry {item.leaf_index}: key id does not match the public key")
            return
        keys = replay.receipt_keys.setdefault(audit_event.recipient_id, {})
        keys[audit_event.key_id] = VerifyKey(raw)
    elif isinstance(audit_event, KeyRevoked):
        replay.receipt_keys.get(audit_event.recipient_id, {}).pop(audit_event.key_id, None)
    elif isinstance(audit_event, PacketSealed):
        replay.sealed[audit_event.packet_id] = (audit_event.recipient_id, audit_event.sealed_sha256)
    elif isinstance(audit_event, ReceiptVerified):
        replay.receipts += 1
        _check_receipt(item.leaf_index, audit_event, replay, problems)


def _check_receipt(
    index: int, audit_event: ReceiptVerified, replay: _Replay, problems: list[str]
) -> None:
    # 4.
    keys = replay.receipt_keys.get(audit_event.recipient_id, {})
    try:
        receipt = verify_receipt(audit_event.receipt, keys)
    except PacketInvalid:
        problems.append(
            f"entry {index}: the receipt for packet {audit_event.packet_id} does not verify with "
            f"a receipt key of {audit_event.recipient_id} valid at that time"
        )
        return
    sealed = replay.sealed.get(audit_event.packet_id)
    if (
        str(receipt.packet_id) != audit_event.packet_id
        or receipt.recipient_id != audit_event.recipient_id
        or sealed is None
        or sealed != (receipt.recipient_id, receipt.sealed_sha256)
    ):
        problems.append(
            f"entry {index}: the receipt for packet {audit_event.packet_id} does not name "
            "the packet and digest the log says were sealed"
        )


def _check_heads(
    heads: Sequence[SignedTreeHead],
    hashes: list[bytes],
    published: PublishedHubKeys,
    trusted: Mapping[str, VerifyKey],
    problems: list[str],
) -> list[SignedTreeHead]:
    verified: list[SignedTreeHead] = []
    roots = merkle.roots_at(hashes, {h.tree_size for h in heads})
    for head in sorted(heads, key=lambda h: h.tree_size):
        try:
            body = TreeHeadBody.model_validate_json(
                verify_envelope(head.envelope, TREE_HEAD_TYPE, trusted)
            )
        except (PacketInvalid, ValidationError):
            problems.append(
                f"the tree head of size {head.tree_size} is not signed by a trusted hub key"
            )
            continue
        if (body.tree_size, body.root_hash, body.timestamp) != (
            head.tree_size,
            head.root_hash,
            head.timestamp,
        ):
            problems.append(f"the tree head of size {head.tree_size} differs from what was signed")
        signed = SignedTreeHead(
            tree_size=body.tree_size,
            root_hash=body.root_hash,
            timestamp=body.timestamp,
            envelope=head.envelope,
        )
        _check_against(
            signed, hashes, f"the tree head signed at {_when(body.timestamp)}", problems, roots
        )
        if verified and verified[-1].timestamp > signed.timestamp:
            problems.append(f"the tree head of size {signed.tree_size} is older than a smaller one")
        verified.append(signed)
    return verified


def _check_against(
    head: SignedTreeHead,
    hashes: list[bytes],
    name: str,
    problems: list[str],
    roots: dict[int, bytes] | None = None,
) -> None:
    if head.tree_size > len(hashes):
        problems.append(
            f"{name} covers {head.tree_size} entries but the log has {len(hashes)} "
            "(entries were deleted)"
        )
        return
    known = (roots or {}).get(head.tree_size)
    root = known if known is not None else merkle.root(hashes[: head.tree_size])
    if root.hex() != head.root_hash:
        problems.append(
            f"the first {head.tree_size} entries no longer have the root of {name} "
            "(entries were changed, moved, inserted or deleted)"
        )


def rolled_back(size: int, last_seen: SignedTreeHead) -> str:
    """The one line that says a log is behind a tree head its verifier holds, and what to do."""
    return (
        f"the log has {size} entries, fewer than the {last_seen.tree_size} of the tree head "
        f"you saw signed at {_when(last_seen.timestamp)}: the hub's log was rolled back (restored "
        "from a backup) or entries were deleted. Keep your saved tree head as evidence and ask "
        "the hub's operator what happened before you trust this log again"
    )


def _when(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


# A live hub


@dataclass
class LiveLog:
    """What a live hub served, with the proofs it gave for it checked."""

    entries: list[AuditEntry]
    heads: list[SignedTreeHead]
    published: PublishedHubKeys
    proof_problems: list[str]


def fetch_live(client: httpx.Client, *, last_seen: SignedTreeHead | None = None) -> LiveLog:
    """Read the whole log from a hub's API (`client` carries the base URL and the coordinator's
    token), then check the proofs it serves: consistency between each signed tree head and the
    next (and the last one seen), and the inclusion of the receipts in the newest one.

    Raises ConfigurationError if the hub cannot be read, in one line saying why.
    """
    try:
        published = PublishedHubKeys.model_validate_json(_get(client, "/v1/hub/keys").content)
        heads: list[SignedTreeHead] = []
        while True:
            after = heads[-1].tree_size if heads else -1
            batch = _get(client, "/v1/audit/tree-heads", after=after, limit=1000).json()
            heads += [SignedTreeHead.model_validate(h) for h in batch]
            if len(batch) < 1000:
                break
        entries: list[AuditEntry] = []
        while True:
            page = _get(client, "/v1/audit/entries", start=len(entries), limit=1000).json()
            entries += [AuditEntry.model_validate(e) for e in page]
            if len(page) < 1000:
                break
        problems = _check_live_proofs(client, heads, entries, last_seen)
    except httpx.HTTPStatusError as exc:
        raise ConfigurationError(
            f"cannot read the audit log: the hub answered {exc.response.status_code} to "
            f"{exc.request.url.path} ({_problem_detail(exc.response)})"
        ) from exc
    except httpx.HTTPError as exc:
        raise ConfigurationError(f"cannot read the audit log: {transport_reason(exc)}") from exc
    except (ValidationError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read the audit log: the hub's answer is not the documented shape "
            f"({type(exc).__name__})"
        ) from exc
    return LiveLog(entries=entries, heads=heads, published=published, proof_problems=problems)


def _problem_detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else response.reason_phrase


def _get(client: httpx.Client, path: str, **params: int) -> httpx.Response:
    response = client.get(path, params=params)
    response.raise_for_status()
    return response


def _check_live_proofs(
    client: httpx.Client,
    heads: list[SignedTreeHead],
    entries: list[AuditEntry],
    last_seen: SignedTreeHead | None,
) -> list[str]:
    problems = []
    chain = sorted(heads, key=lambda h: h.tree_size)
    if last_seen is not None and last_seen.tree_size <= len(entries):
        chain = [last_seen, *[h for h in chain if h.tree_size > last_seen.tree_size]]
    # A log behind the head last seen has no proof to give for it: verify_log says it was
    # rolled back, and the proofs are checked among the heads the hub still has.
    for earlier, later in itertools.pairwise(chain):
        consistency = ConsistencyProof.model_validate_json(
            _get(
                client,
                "/v1/audit/proof/consistency",
                first=earlier.tree_size,
                second=later.tree_size,
            ).content
        )
        try:
            merkle.verify_consistency(
                earlier.tree_size,
                later.tree_size,
                bytes.fromhex(earlier.root_hash),
                bytes.fromhex(later.root_hash),
                [bytes.fromhex(p) for p in consistency.consistency_path],
            )
        except ProofInvalid:
            problems.append(
                f"the hub's consistency proof from size {earlier.tree_size} to "
                f"{later.tree_size} does not verify"
            )
    if not chain:
        return problems
    newest = chain[-1]
    receipts = [
        e for e in entries if e.kind == "receipt_verified" and e.leaf_index < newest.tree_size
    ]
    for item in receipts[-_INCLUSION_SPOT_CHECKS:]:
        inclusion = InclusionProof.model_validate_json(
            _get(
                client,
                "/v1/audit/proof/inclusion",
                leaf_index=item.leaf_index,
                tree_size=newest.tree_size,
            ).content
        )
        try:
            merkle.verify_inclusion(
                item.leaf_index,
                newest.tree_size,
                merkle.leaf_hash(item.entry.encode("utf-8")),
                [bytes.fromhex(p) for p in inclusion.audit_path],
                bytes.fromhex(newest.root_hash),
            )
        except ProofInvalid:
            problems.append(
                f"the hub's inclusion proof for entry {item.leaf_index} does not verify"
            )
    return problems


# Saying what was found


def format_verdict(verdict: AuditVerdict, *, source: str) -> str:
    """A plain report for people, ending with one verdict line."""
    lines = [f"audit log of {source}: {verdict.entries} entries"]
    if verdict.latest is not None:
        lines.append(
            f"latest signed tree head: size {verdict.latest.tree_size}, root "
            f"{verdict.latest.root_hash[:16]}..., signed {_when(verdict.latest.timestamp)}"
        )
    lines.append(f"  checked {verdict.tree_heads_checked} signed tree heads and their consistency")
    lines.append(f"  checked {verdict.receipts_checked} receipts against their recipients' keys")
    for warning in verdict.warnings:
        lines.append(f"  note: {warning}")
    if verdict.verified:
        lines.append(
            f"VERDICT: VERIFIED - every entry is included, unchanged and in order; every tree head "
            f"is signed and consistent; every receipt verifies (proven up to entry "
            f"{verdict.signed_size})"
        )
    else:
        lines.append(f"VERDICT: FAILED - {len(verdict.problems)} problem(s) found:")
        lines += [f"  - {problem}" for problem in verdict.problems]
    return "\n".join(lines)


def read_export(path: Path) -> ExportedLog:
    """Read an exported log. Raises ConfigurationError if it is not one."""
    try:
        return ExportedLog.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigurationError(f"{path} is not an exported audit log") from exc


# The hub's own database


def _stored_entries(session: Session) -> list[AuditEntry]:
    """Every stored row, in pages that each start after the last leaf index read, so that a
    row deleted or moved neither hides another nor shows one twice."""
    stored: list[AuditEntry] = []
    while True:
        start = stored[-1].leaf_index + 1 if stored else 0
        page = audit.entries(session, start=start, limit=_PAGE)
        stored += page
        if len(page) < _PAGE:
            return stored


def export_log(session: Session, published: PublishedHubKeys, now: datetime) -> ExportedLog:
    """The whole log, its signed tree heads and the hub's published keys, for offline checks."""
    return ExportedLog(
        format=EXPORT_FORMAT,
        exported_at=now,
        entries=_stored_entries(session),
        tree_heads=audit.tree_heads(session, limit=10**9),
        hub_keys=published,
    )


def verify_stored(
    session: Session,
    published: PublishedHubKeys,
    *,
    last_seen: SignedTreeHead | None = None,
    high_water: Path | None = None,
) -> AuditVerdict:
    """Verify the log in the hub's own database, trusting the hub's published key history,
    and, given the newest signed head's size kept beside the key (`high_water`), that the log
    was not restored from before it."""
    exported = export_log(session, published, datetime.now().astimezone())
    verdict = verify_log(
        exported.entries,
        exported.tree_heads,
        published,
        trusted_hub_keys(published, None),
        last_seen=last_seen,
    )
    if high_water is not None:
        try:
            check_not_behind(high_water, verdict.entries)
        except ProofInvalid as exc:
            verdict.problems.insert(0, str(exc))
            verdict.verified = False
    return verdict


def sign_round(
    engine: Engine, *, key: SigningKey, now: datetime, high_water: Path | None = None
) -> None:
    """The frequent job's work: sign a tree head over the entries added since the last one."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            audit.sign_tree_head(session, key=key, now=now, high_water=high_water)
        except ProofInvalid as exc:
            session.rollback()
            log.error("tree_head_refused", reason=str(exc))


def audit_round(
    engine: Engine,
    *,
    key: SigningKey,
    published: PublishedHubKeys,
    now: datetime,
    high_water: Path | None = None,
) -> AuditVerdict:
    """The full check's work: sign a tree head if the log grew, verify the whole log, and
    record the outcome (which the dashboard shows)."""
    sign_round(engine, key=key, now=now, high_water=high_water)
    with Session(engine, expire_on_commit=False) as session:
        verdict = verify_stored(session, published, high_water=high_water)
        audit.record_check(
            session,
            AuditCheck(
                checked_at=now,
                checked_by="hub",
                tree_size=verdict.entries,
                verified=verdict.verified,
                problems=verdict.problems,
            ),
        )
    if not verdict.verified:
        log.error("audit_log_damaged", problems=len(verdict.problems))
    return verdict
