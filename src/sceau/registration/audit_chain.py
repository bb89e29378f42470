"""The tamper-evident audit chain: canonical form, hashes, anchors and verification.

Each audit event carries the SHA-256 of the event before it (``prev_hash``) and its own
hash (``event_hash``) computed over a canonical serialisation of its fields. Editing,
deleting, inserting or reordering an event breaks the chain at a place ``verify_chain``
names. Anchors (signatures by a dedicated audit key over "event N has hash H") pin the chain
so that even a rewrite of the whole tail by someone with database access is detected.

Pure Python: the storage layer feeds rows in, the use cases sign and check signatures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

GENESIS_HASH = "0" * 64
CHAIN_FORMAT = "sceau-audit-event/v1"
ANCHOR_FORMAT = "sceau-audit-anchor/v1"


@dataclass(frozen=True)
class ChainedEvent:
    """The fields of one audit event that the chain covers."""

    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    details: dict[str, Any] | None
    source: str | None
    prev_hash: str
    event_hash: str = ""


def canonical_time(at: dt.datetime) -> str:
    """UTC, microsecond precision: the form both SQLite and PostgreSQL give back."""
    if at.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def canonical_details(details: dict[str, Any] | None) -> str:
    """JSON with sorted keys and no spaces (``null`` for no details)."""
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def normalise_details(details: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a JSON column gives back (tuples become lists, keys strings): hash *that*."""
    if details is None:
        return None
    normalised = json.loads(json.dumps(details, default=str))
    if not isinstance(normalised, dict):
        raise ValueError("audit details must be a JSON object")
    return normalised


def canonical_bytes(event: ChainedEvent) -> bytes:
    """The serialisation that is hashed: a JSON array in a fixed field order."""
    fields = [
        CHAIN_FORMAT,
        event.id,
        canonical_time(event.at),
        event.actor,
        event.action,
        event.target,
        event.outcome,
        canonical_details(event.details),
        event.source,
        event.prev_hash,
    ]
    return json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def event_hash(event: ChainedEvent) -> str:
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


def anchor_payload(last_event_id: int, chain_hash: str, at: dt.datetime) -> bytes:
    """The bytes an anchor signature covers."""
    return f"{ANCHOR_FORMAT}\n{last_event_id}\n{chain_hash}\n{canonical_time(at)}\n".encode()


# ------------------------------------------------------------------------------ verification


@dataclass(frozen=True)
class ChainProblem:
    """One place where the chain is broken; ``event_id`` is where to look."""

    event_id: int | None
    kind: str  # edited | deleted | inserted | reordered | head | anchor
    message: str


@dataclass(frozen=True)
class AnchorRecord:
    id: int
    at: dt.datetime
    last_event_id: int
    chain_hash: str
    signature: bytes
    key_id: int


@dataclass
class ChainReport:
    events: int = 0
    first_event_id: int | None = None
    last_event_id: int | None = None
    anchors: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what could not be checked, and why

    @property
    def ok(self) -> bool:
        return not self.problems


SignatureCheck = Callable[[int, bytes, bytes], bool]  # (key_id, payload, signature) -> valid


def verify_chain(
    events: Iterable[ChainedEvent],
    *,
    head: tuple[int, str] | None = None,
    anchors: Iterable[AnchorRecord] = (),
    check_signature: SignatureCheck | None = None,
) -> ChainReport:
    """Walk the events in id order and report every break with the event id to look at.

    Ids are allocated without gaps by the chain head, so a missing id is a deletion.
    ``head`` is the chain head row (last event id, its hash); ``anchors`` are checked against
    the events and, with ``check_signature``, against the audit key.
    """
    report = ChainReport()
    hashes: dict[int, str] = {}
    by_hash: dict[str, int] = {}
    previous_id: int | None = None
    previous_hash = GENESIS_HASH
    for event in events:
        report.events += 1
        if report.first_event_id is None:
            report.first_event_id = event.id
        recomputed = event_hash(event)
        if recomputed != event.event_hash:
            report.problems.append(
                ChainProblem(
                    event.id,
                    "edited",
                    f"event {event.id}: its content does not match its hash "
                    "(edited in place, or inserted by hand)",
                )
            )
        if previous_id is not None and event.id != previous_id + 1:
            missing = (
                f"{previous_id + 1}"
                if event.id == previous_id + 2
                else f"{previous_id + 1}..{event.id - 1}"
            )
            report.problems.append(
                ChainProblem(
                    previous_id + 1,
                    "deleted",
                    f"event(s) {missing} missing between {previous_id} and {event.id} (deleted)",
                )
            )
        elif event.prev_hash != previous_hash:
            if event.prev_hash in by_hash:
                kind = "reordered"
                message = (
                    f"event {event.id}: links to event {by_hash[event.prev_hash]}, not to the "
                    f"event before it ({previous_id}): events reordered"
                )
            elif previous_id is None:
                kind = "deleted" if event.prev_hash != GENESIS_HASH else "inserted"
                message = (
                    f"event {event.id}: first event present but does not start the chain "
                    "(earlier events deleted)"
                )
            else:
                kind = "edited"
                message = (
                    f"event {event.id}: its link does not match event {previous_id} "
                    f"(event {previous_id} was rewritten, or {event.id} inserted or moved)"
                )
            report.problems.append(ChainProblem(event.id, kind, message))
        hashes[event.id] = event.event_hash
        by_hash.setdefault(event.event_hash, event.id)
        previous_id = event.id
        previous_hash = event.event_hash
    report.last_event_id = previous_id

    if head is not None:
        head_id, head_hash = head
        if previous_id is None and head_id:
            report.problems.append(
                ChainProblem(
                    head_id, "deleted", f"the chain head names event {head_id} but the log is empty"
                )
            )
        elif previous_id is not None and head_id < previous_id:
            report.problems.append(
                ChainProblem(
                    head_id + 1,
                    "inserted",
                    f"events {head_id + 1}..{previous_id} were appended outside sceau "
                    f"(the chain head ends at {head_id})",
                )
            )
        elif previous_id is not None and head_id > previous_id:
            report.problems.append(
                ChainProblem(
                    previous_id + 1,
                    "deleted",
                    f"events {previous_id + 1}..{head_id} missing at the end of the log (deleted)",
                )
            )
        elif previous_id is not None and head_hash != previous_hash:
            report.problems.append(
                ChainProblem(
                    previous_id, "head", f"event {previous_id}: hash differs from the chain head"
                )
            )

    for anchor in anchors:
        report.anchors += 1
        if check_signature is not None and not check_signature(
            anchor.key_id,
            anchor_payload(anchor.last_event_id, anchor.chain_hash, anchor.at),
            anchor.signature,
        ):
            report.problems.append(
                ChainProblem(
                    anchor.last_event_id,
                    "anchor",
                    f"anchor {anchor.id}: signature does not verify with audit key {anchor.key_id}",
                )
            )
            continue
        found = hashes.get(anchor.last_event_id)
        if found is None:
            report.problems.append(
                ChainProblem(
                    anchor.last_event_id,
                    "deleted",
                    f"anchor {anchor.id}: anchored event {anchor.last_event_id} is missing",
                )
            )
        elif found != anchor.chain_hash:
            report.problems.append(
                ChainProblem(
                    anchor.last_event_id,
                    "anchor",
                    f"anchor {anchor.id}: event {anchor.last_event_id} no longer has the "
                    "anchored hash (the chain up to it was rewritten)",
                )
            )
    return report


# ---------------------------------------------------------------------------------- display

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_for_display(value: object) -> str:
    """One line, no control characters: user text cannot fake another log line or a colour."""
    text = "" if value is None else str(value)
    out: list[str] = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif not char.isprintable() and char != " ":  # controls, format, separators, unassigned
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
