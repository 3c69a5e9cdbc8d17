"""Check a promise of inclusion: that the hub kept what an acknowledgement (version 3) promised.

Pure: no clock, no database, no network. The caller brings the acknowledgement, the hub keys it
trusts, what `GET /v1/reports/{report_id}/inclusion` answered (None for its 404) and the time.
The steps, in order (docs/audit.md, "Verifying a promise of inclusion"):

1. The acknowledgement verifies with a trusted hub key and is version 3: it carries the promise
   (`leaf_index`, `leaf_hash`, `deadline`), all of it covered by the hub's signature.
2. The promised leaf hash is that of the report's `report_routed` entry, rebuilt from the
   acknowledgement alone (hub/audit/entry.py): the promise names this report, not any entry.
3. The tree head verifies with a trusted hub key and covers the index (`tree_size > leaf_index`).
   Without one, the promise is pending until its deadline and broken after it.
4. The audit path leads from the promised leaf hash, at the promised index, to the signed root
   (RFC 6962, checked by hub/merkle.py): that leaf, and no other, is at that index.
5. That head, the first the hub signed over the entry, was signed no later than the deadline.

A broken promise is evidence against the hub: its own signature promised what its own signed
tree heads do not show. An acknowledgement or tree head that does not verify proves nothing
either way, and raises instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum

from nacl.signing import VerifyKey
from pydantic import BaseModel, ConfigDict, ValidationError

from hub import merkle
from hub.audit.entry import entry_bytes, instant
from hub.audit.events import ReportRouted
from hub.audit.log import InclusionProof, SignedTreeHead
from hub.crypto import verify_acknowledgement, verify_envelope
from hub.errors import InvalidInput, PacketInvalid, ProofInvalid
from schemas.envelope import (
    TREE_HEAD_TYPE,
    AcknowledgementBody,
    Envelope,
    InclusionPromise,
    TreeHeadBody,
)

__all__ = [
    "PromiseState",
    "PromiseVerdict",
    "PromisedInclusion",
    "promised",
    "verify_promise",
]


class PromisedInclusion(BaseModel):
    """What `GET /v1/reports/{report_id}/inclusion` answers: the first signed tree head that
    covers the report's promised entry, and the audit path of that entry in it."""

    model_config = ConfigDict(extra="forbid")

    report_id: str
    tree_head: SignedTreeHead
    inclusion: InclusionProof


class PromiseState(StrEnum):
    """What a check of a promise found."""

    kept = "kept"  # included in a head signed by the deadline
    pending = "pending"  # not yet covered, and the deadline has not passed: not a failure
    broken = "broken"  # evidence against the hub


class PromiseVerdict(BaseModel):
    """A promise's state and the one line that says why."""

    model_config = ConfigDict(extra="forbid")

    state: PromiseState
    reason: str
    report_id: str
    promise: InclusionPromise


def promised(acknowledgement: Envelope, trusted: Mapping[str, VerifyKey]) -> AcknowledgementBody:
    """Step 1: the verified body of a version 3 acknowledgement.

    Raises PacketInvalid if no trusted hub key signed it, InvalidInput if it carries no promise.
    """
    body = verify_acknowledgement(acknowledgement, trusted)
    if body.promise is None:
        raise InvalidInput.at(
            "acknowledgement",
            f"version {body.acknowledgement_version} carries no promise of inclusion",
        )
    return body


def verify_promise(
    acknowledgement: Envelope,
    trusted: Mapping[str, VerifyKey],
    inclusion: PromisedInclusion | None,
    *,
    now: datetime,
) -> PromiseVerdict:
    """Check the promise as the module docstring says, at time `now`.

    Raises PacketInvalid if the acknowledgement does not verify, InvalidInput if it has no
    promise, ProofInvalid if the tree head served is not signed by a trusted hub key (or is for
    another report): none of these is the hub's signed word, so none is evidence against it.
    """
    # 1.
    body = promised(acknowledgement, trusted)
    promise = body.promise
    assert promise is not None  # promised() refuses an acknowledgement without one
    index, deadline = promise.leaf_index, promise.deadline

    def verdict(state: PromiseState, reason: str) -> PromiseVerdict:
        return PromiseVerdict(
            state=state, reason=reason, report_id=str(body.report_id), promise=promise
        )

    # 2.
    routed = ReportRouted(
        report_id=str(body.report_id), source_id=body.source, recipients=body.recipients
    )
    rebuilt = merkle.leaf_hash(entry_bytes(index, routed, body.accepted_at))
    if rebuilt.hex() != promise.leaf_hash:
        return verdict(
            PromiseState.broken,
            f"the promised leaf hash {promise.leaf_hash} is not that of the report's routing "
            f"entry at index {index} ({rebuilt.hex()}): the hub signed a promise for another entry",
        )
    # 3.
    head = None if inclusion is None else _signed_head(inclusion, str(body.report_id), trusted)
    if head is None or head.tree_size <= index:
        if now <= deadline:
            return verdict(
                PromiseState.pending,
                f"not yet covered by a signed tree head; due by {instant(deadline)}",
            )
        return verdict(
            PromiseState.broken,
            f"no signed tree head covers entry {index}, and the deadline {instant(deadline)} "
            "has passed",
        )
    # 4.
    assert inclusion is not None
    try:
        merkle.verify_inclusion(
            index,
            head.tree_size,
            bytes.fromhex(promise.leaf_hash),
            [bytes.fromhex(node) for node in inclusion.inclusion.audit_path],
            bytes.fromhex(head.root_hash),
        )
    except (ProofInvalid, ValueError):
        served = inclusion.inclusion.leaf_hash
        other = f" (the hub shows leaf {served} there)" if served != promise.leaf_hash else ""
        return verdict(
            PromiseState.broken,
            f"the tree head of size {head.tree_size} does not include the promised leaf at "
            f"index {index}{other}",
        )
    # 5.
    if head.timestamp > deadline:
        return verdict(
            PromiseState.broken,
            f"entry {index} was first covered by the tree head signed at "
            f"{instant(head.timestamp)}, after the deadline {instant(deadline)}",
        )
    return verdict(
        PromiseState.kept,
        f"entry {index} of report {body.report_id} is in the tree head of size "
        f"{head.tree_size} signed at {instant(head.timestamp)}, by the deadline "
        f"{instant(deadline)}",
    )


def _signed_head(
    inclusion: PromisedInclusion, report_id: str, trusted: Mapping[str, VerifyKey]
) -> TreeHeadBody:
    """Step 3: the tree head as signed (never the unsigned copy of its fields beside it).

    Raises ProofInvalid if no trusted hub key signed it, or if the answer is for another report.
    """
    if inclusion.report_id != report_id:
        raise ProofInvalid(f"the hub answered for report {inclusion.report_id}, not {report_id}")
    try:
        return TreeHeadBody.model_validate_json(
            verify_envelope(inclusion.tree_head.envelope, TREE_HEAD_TYPE, trusted)
        )
    except (PacketInvalid, ValidationError) as exc:
        raise ProofInvalid("the tree head served is not signed by a trusted hub key") from exc
