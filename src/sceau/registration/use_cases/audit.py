"""Audit log use cases: anchor the chain with the audit key, verify it, list events.

``anchor_audit_chain`` is meant to run periodically (worker job or cron): it signs
"event N has hash H" with a dedicated audit key made by the keyring (encrypted file or
PKCS#11, like CA keys). ``verify_audit_chain`` walks the whole chain and checks every anchor.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from sceau.pki.errors import SceauError
from sceau.registration.audit_chain import ChainReport, anchor_payload, verify_chain
from sceau.registration.ports import Services

AUDIT_KEY_SIZE = 3072  # RSA-3072: 128-bit security, a tenth of the cost of making RSA-4096


@dataclass(frozen=True)
class AnchorResult:
    anchor_id: int
    last_event_id: int
    chain_hash: str
    key_id: int


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str | None
    outcome: str
    source: str | None
    details: dict[str, Any] | None


def _public_der(public_key: rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ensure_audit_key(services: Services, *, key_size: int = AUDIT_KEY_SIZE) -> int:
    """The id of the current audit key, made (in the keyring's backend) when there is none."""
    with services.unit_of_work() as uow:
        current = uow.audit.current_key()
        if current is not None:
            return int(current.id)
    stamp = services.clock.now().strftime("%Y%m%d%H%M%S")
    key = services.keyring.generate(f"audit-{stamp}-{secrets.token_hex(3)}", key_size)
    with services.unit_of_work() as uow:
        row = uow.audit.add_key(
            key_reference=key.reference,
            public_key_der=_public_der(key.public_key()),
            at=services.clock.now(),
        )
        uow.commit()
        return int(row.id)


def anchor_audit_chain(services: Services, *, force: bool = False) -> AnchorResult | None:
    """Sign the current end of the chain; ``None`` when the log is empty or already anchored."""
    key_id = ensure_audit_key(services)
    with services.unit_of_work() as uow:
        head = uow.audit.lock_head()  # no append can slip between reading and signing
        if head.last_event_id == 0:
            return None
        latest = uow.audit.latest_anchor()
        if latest is not None and latest.last_event_id == head.last_event_id and not force:
            return None
        key_row = uow.audit.current_key()
        if key_row is None:  # deleted between ensure_audit_key and here
            raise SceauError("audit_key_missing", f"audit key {key_id} disappeared: retry")
        signing_key = services.keyring.load(key_row.key_reference)
        if _public_der(signing_key.public_key()) != key_row.public_key_der:
            raise SceauError(
                "audit_key_mismatch",
                f"the audit key at {key_row.key_reference} is not the one recorded as audit "
                f"key {key_row.id}: refusing to anchor",
            )
        now = services.clock.now()
        signature = signing_key.sign(anchor_payload(head.last_event_id, head.last_hash, now))
        anchor = uow.audit.add_anchor(
            at=now,
            last_event_id=head.last_event_id,
            chain_hash=head.last_hash,
            key_id=key_row.id,
            signature=signature,
        )
        result = AnchorResult(anchor.id, head.last_event_id, head.last_hash, key_row.id)
        uow.commit()
        return result


def _load_public(der: bytes) -> rsa.RSAPublicKey:
    key = serialization.load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):
        raise SceauError("audit_key_type", "audit keys are RSA keys")
    return key


def verify_audit_chain(
    services: Services,
    *,
    pinned_public_keys: list[bytes] | None = None,
    check_key_files: bool = True,
) -> ChainReport:
    """Walk the whole chain, then check every anchor's signature.

    ``pinned_public_keys`` (PEM or DER, kept outside the database) replace the public keys
    the database records, so that someone able to rewrite the database cannot also swap the
    audit key. ``check_key_files`` compares recorded public keys with the keyring's keys.
    """
    notes: list[str] = []
    with services.unit_of_work() as uow:
        keys = {int(k.id): (k.key_reference, k.public_key_der) for k in uow.audit.audit_keys()}
        anchors = uow.audit.anchors()
        head = uow.audit.head()
        trusted: dict[int, rsa.RSAPublicKey] = {}
        pinned = [_load_pinned(p) for p in pinned_public_keys or []]
        pinned_der = {_public_der(p) for p in pinned}
        for key_id, (reference, der) in keys.items():
            if pinned and der not in pinned_der:
                notes.append(f"audit key {key_id} is not among the pinned public keys")
                continue
            trusted[key_id] = _load_public(der)
            if check_key_files:
                try:
                    loaded = services.keyring.load(reference)
                except SceauError as exc:
                    notes.append(f"audit key {key_id}: not checked against {reference} ({exc})")
                    continue
                if _public_der(loaded.public_key()) != der:
                    notes.append(
                        f"audit key {key_id}: the recorded public key is not that of {reference}"
                    )
                    trusted.pop(key_id)

        def check(key_id: int, payload: bytes, signature: bytes) -> bool:
            public = trusted.get(key_id)
            if public is None:
                return False
            try:
                public.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
            except InvalidSignature:
                return False
            return True

        report = verify_chain(uow.audit.chain(), head=head, anchors=anchors, check_signature=check)
    report.notes.extend(notes)
    return report


def _load_pinned(data: bytes) -> rsa.RSAPublicKey:
    if data.lstrip().startswith(b"-----BEGIN"):
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, rsa.RSAPublicKey):
            raise SceauError("audit_key_type", "audit keys are RSA keys")
        return key
    return _load_public(data)


def export_audit_public_keys(services: Services) -> bytes:
    """The PEM public keys of every audit key, to keep outside the database (pinning)."""
    with services.unit_of_work() as uow:
        ders = [k.public_key_der for k in uow.audit.audit_keys()]
    return b"".join(
        _load_public(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        for der in ders
    )


def list_audit_events(
    services: Services,
    *,
    limit: int = 50,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
) -> list[AuditLine]:
    """The newest events first (filters are exact matches)."""
    with services.unit_of_work() as uow:
        rows = uow.audit.list(action=action, actor=actor, target=target, limit=limit)
        return [
            AuditLine(
                id=r.id,
                at=r.at,
                actor=r.actor,
                action=r.action,
                target=r.target,
                outcome=r.outcome,
                source=r.source,
                details=r.details,
            )
            for r in rows
        ]
