"""The database schema (SQLAlchemy 2 declarative). Migrations live in ``migrations/``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CertificateAuthority(Base):
    """A CA of a hierarchy: its certificate, where its key lives, what its leaves carry."""

    __tablename__ = "certificate_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)  # e.g. "test-organisations"
    environment: Mapped[str] = mapped_column(String(8))  # "test" | "prod"
    role: Mapped[str] = mapped_column(String(16))  # "root" | "organisations" | "persons"
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_authorities.id"))
    subject: Mapped[str] = mapped_column(Text)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_reference: Mapped[str] = mapped_column(Text)
    file_stem: Mapped[str] = mapped_column(String(64), unique=True)  # ACI-EL-ORG-TEST
    issuer_policy: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    next_crl_number: Mapped[int] = mapped_column(BigInteger, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    parent: Mapped[CertificateAuthority | None] = relationship(remote_side=[id])


class Structure(Base):
    """A health structure identified by its IDNST (OU of its certificates)."""

    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idnst: Mapped[str] = mapped_column(String(32), unique=True)
    finess_et: Mapped[str | None] = mapped_column(String(9), index=True)
    finess_ej: Mapped[str | None] = mapped_column(String(9), index=True)
    siret: Mapped[str | None] = mapped_column(String(14))
    raison_sociale: Mapped[str] = mapped_column(String(256), index=True)
    address: Mapped[str | None] = mapped_column(Text)
    postcode: Mapped[str | None] = mapped_column(String(10))
    city: Mapped[str | None] = mapped_column(String(128))
    department_code: Mapped[str] = mapped_column(String(3))
    category_code: Mapped[str | None] = mapped_column(String(8))
    category_label: Mapped[str | None] = mapped_column(String(128))
    is_open: Mapped[bool] = mapped_column(Boolean, default=True)
    mssante_operator: Mapped[bool] = mapped_column(Boolean, default=False)
    source_updated: Mapped[str | None] = mapped_column(String(10))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Certificate(Base):
    """A certificate from its recorded intent (status ``prepared``) to its signature.

    ``tbs_der`` is the linted to-be-signed certificate, recorded before any signature.
    """

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(40), unique=True)  # lower-case hex, 32 digits
    authority_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"), index=True)
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id"), index=True)
    usage: Mapped[str] = mapped_column(String(16))
    insi: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True)  # prepared|issued|abandoned
    subject: Mapped[str] = mapped_column(Text)
    common_name: Mapped[str] = mapped_column(String(256), index=True)
    dns_names: Mapped[list[str] | None] = mapped_column(JSON)
    key_fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    tbs_der: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_der: Mapped[bytes | None] = mapped_column(LargeBinary)
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    prepared_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(32))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    lint_warnings: Mapped[list[str] | None] = mapped_column(JSON)

    authority: Mapped[CertificateAuthority] = relationship()
    structure: Mapped[Structure | None] = relationship()

    __table_args__ = (Index("ix_certificates_authority_revoked", "authority_id", "revoked_at"),)


class RevocationList(Base):
    """A published CRL (full, or delta when ``delta_base`` is set)."""

    __tablename__ = "revocation_lists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"))
    number: Mapped[int] = mapped_column(BigInteger)
    delta_base: Mapped[int | None] = mapped_column(BigInteger)
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    entries: Mapped[int] = mapped_column(Integer)
    der: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (
        UniqueConstraint("authority_id", "number", name="uq_revocation_lists_authority_number"),
    )


class OcspResponder(Base):
    """The delegated OCSP responder certificate of a CA and where its key is."""

    __tablename__ = "ocsp_responders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"), index=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_reference: Mapped[str] = mapped_column(Text)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class OcspResponse(Base):
    """A pre-signed OCSP response for one certificate, refreshed ahead of ``next_update``."""

    __tablename__ = "ocsp_responses"

    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("certificate_authorities.id"), index=True)
    serial: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(8))
    this_update: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    next_update: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEvent(Base):
    """Who did what, when, on what, with which outcome — refused attempts included."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(256), index=True)
    outcome: Mapped[str] = mapped_column(String(16))  # success | refused | failed
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    source: Mapped[str | None] = mapped_column(String(64))
    # The tamper-evident chain (sceau.registration.audit_chain): ids are allocated without
    # gaps under the chain head's lock; each event hashes its fields and its predecessor's hash.
    prev_hash: Mapped[str] = mapped_column(String(64))
    event_hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The one row (id 1) that says where the audit chain ends; appends lock it."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditKey(Base):
    """A key that signs audit anchors (made by the keyring; file or PKCS#11)."""

    __tablename__ = "audit_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_reference: Mapped[str] = mapped_column(Text)
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AuditAnchor(Base):
    """A signature of the audit key over "event ``last_event_id`` has hash ``chain_hash``"."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_event_id: Mapped[int] = mapped_column(BigInteger, index=True)
    chain_hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[int] = mapped_column(ForeignKey("audit_keys.id"), index=True)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


# ------------------------------------------------------------------------------------ registry


class Vendor(Base):
    """A software vendor (éditeur): an organisation identified by its SIREN."""

    __tablename__ = "vendors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    siren: Mapped[str] = mapped_column(String(9), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    department_code: Mapped[str | None] = mapped_column(String(3))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Contract(Base):
    """A contract of adhesion with the ANS, held by a vendor or by a structure."""

    __tablename__ = "contracts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id"), index=True)
    signed_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # active | suspended | terminated
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Person(Base):
    """A natural person known by their national identifier (idNat, domain §7.3)."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idnat: Mapped[str] = mapped_column(String(64), unique=True)
    family_name: Mapped[str] = mapped_column(String(128))
    given_name: Mapped[str] = mapped_column(String(128))
    email: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(32))
    profession_code: Mapped[int | None] = mapped_column(Integer)  # TRE_G15 (21 Pharmacien)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class Card(Base):
    """A CPx card (CPS, CPE, CPA); its authentication certificate is a ``certificates`` row."""

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    card_type: Mapped[str] = mapped_column(String(8))  # CPS | CPE | CPA
    card_number: Mapped[str] = mapped_column(String(21), unique=True)  # 8025000001/<10 digits>
    status: Mapped[str] = mapped_column(String(16), index=True)  # active | replaced | revoked
    not_before: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    form: Mapped[str | None] = mapped_column(String(16))  # e.g. "301" for a CPA request
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class LegalRepresentative(Base):
    """The person legally representing a structure (may read it and withdraw delegations)."""

    __tablename__ = "legal_representatives"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    function: Mapped[str | None] = mapped_column(String(128))
    since: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class HabilitationRequest(Base):
    """The certificate section of a SEGUR order form (or a form 503), awaiting a decision."""

    __tablename__ = "habilitation_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    administrator_status: Mapped[str] = mapped_column(String(16))  # editeur | pharmacien
    administrator_name: Mapped[str] = mapped_column(String(256))
    card_number: Mapped[str] = mapped_column(String(21))
    phone: Mapped[str | None] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(256))
    form: Mapped[str] = mapped_column(String(16))  # order | 503
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | approved | rejected
    reason: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(256))
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[str | None] = mapped_column(String(256))
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class Habilitation(Base):
    """A technical administrator's right on one structure; active while ``revoked_at`` is null.

    It hangs on the person, not the card, so it follows the holder when the card is renewed.
    """

    __tablename__ = "habilitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    administrator_status: Mapped[str] = mapped_column(String(16))  # editeur | pharmacien
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("habilitation_requests.id"))
    email: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(32))
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    granted_by: Mapped[str] = mapped_column(String(256))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)
    revoked_by: Mapped[str | None] = mapped_column(String(256))
    revocation_reason: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (Index("ix_habilitations_person_active", "person_id", "revoked_at"),)


class DomainEvent(Base):
    """An outbox record of something that happened (the notification worker delivers mail)."""

    __tablename__ = "domain_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)  # e.g. habilitation.granted
    subject: Mapped[str | None] = mapped_column(String(256))
    recipient: Mapped[str | None] = mapped_column(String(256))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, index=True)


# ------------------------------------------------------------------------------ notifications


class OutboxMessage(Base):
    """One rendered e-mail (one recipient set) waiting for, or done with, SMTP delivery.

    Made by the worker from a ``domain_events`` row (``event_id``) or by the expiry scan;
    ``dedup_key`` makes creation idempotent. ``message_id`` is chosen before any attempt so
    that every attempt of a message carries the same Message-ID. Status cycle:
    ``pending`` → ``claimed`` (leased, nothing sent yet) → ``sending`` (handed to the SMTP
    server) → ``sent``; or back to ``pending`` (retry with backoff), ``failed`` (final), or
    ``unknown`` (the process died while the server may have accepted it: never resent).
    """

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(160), unique=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("domain_events.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    sender: Mapped[str] = mapped_column(String(256))
    recipients: Mapped[list[str]] = mapped_column(JSON)
    cc: Mapped[list[str] | None] = mapped_column(JSON)
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    context: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # template context (digests grow)
    message_id: Mapped[str] = mapped_column(String(256), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(128))
    locked_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_messages_status_next", "status", "next_attempt_at"),)


class ExpiryNotice(Base):
    """An expiry reminder already given (or skipped) for one certificate at one offset."""

    __tablename__ = "expiry_notices"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    offset_days: Mapped[int] = mapped_column(Integer)
    noticed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(16))  # mailed | digested | skipped | nobody

    __table_args__ = (
        UniqueConstraint(
            "certificate_id", "offset_days", name="uq_expiry_notices_certificate_offset"
        ),
    )


# The expiry scan excludes renewed certificates with NOT EXISTS on ``replaces_id``. Partial,
# because nearly every row has no predecessor: SQLite's planner ignores a full index on a
# mostly-NULL column once ANALYZE has run (it then scans the table per candidate row).
Index(
    "ix_certificates_replaces_id",
    Certificate.replaces_id,
    sqlite_where=Certificate.replaces_id.is_not(None),
    postgresql_where=Certificate.replaces_id.is_not(None),
)


class JobLease(Base):
    """A cluster-wide lease on a job (one holder at a time) and the job's last-run figures."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    failures: Mapped[int] = mapped_column(BigInteger, default=0)
    last_started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_duration_seconds: Mapped[float | None] = mapped_column(Float)
    total_duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    last_error: Mapped[str | None] = mapped_column(Text)


class CalendarToken(Base):
    """A secret, revocable URL of an administrator's expiry calendar (only its hash is kept)."""

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


# ------------------------------------------------------------------------------------- orders


class CertificateOrder(Base):
    """A request (DEMANDER) by an administrator: one or more products for one structure."""

    __tablename__ = "certificate_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    offer: Mapped[str] = mapped_column(String(8))  # ORG | SERV
    bundle: Mapped[str | None] = mapped_column(String(32))  # DMP, INSI, PSC… or null
    kind: Mapped[str] = mapped_column(String(16))  # new | renewal
    actor_email: Mapped[str] = mapped_column(String(256))
    cc_email: Mapped[str | None] = mapped_column(String(256))
    requested_by: Mapped[str] = mapped_column(String(256))  # actor label
    requested_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # SHA-256 of (requester, Idempotency-Key) when the API was given one: written in the
    # order's own transaction, so a retry after a crash finds the order it placed.
    idempotency_ref: Mapped[str | None] = mapped_column(String(64), unique=True)

    structure: Mapped[Structure] = relationship()


class OrderProduct(Base):
    """One ordered certificate and where it is in its life (``registration.orders.states``).

    ``pkcs12_blob`` holds an online-generated key only inside its password-protected PKCS#12,
    and only until retrieval; ``revocation_code_hash`` is an argon2id hash.
    """

    __tablename__ = "order_products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("certificate_orders.id"), index=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"))
    usage: Mapped[str] = mapped_column(String(16))
    service_applicatif: Mapped[str] = mapped_column(String(256))
    insi: Mapped[bool] = mapped_column(Boolean, default=False)
    dns_names: Mapped[list[str] | None] = mapped_column(JSON)
    key_source: Mapped[str] = mapped_column(String(8))  # csr | online
    key_fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), index=True)
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), unique=True)
    renewal_of_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), index=True)
    pkcs12_blob: Mapped[bytes | None] = mapped_column(LargeBinary)
    revocation_code_hash: Mapped[str | None] = mapped_column(String(256))
    cgu_version: Mapped[str | None] = mapped_column(String(32))
    pc_version: Mapped[str | None] = mapped_column(String(32))
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    retrieved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    retrieved_by: Mapped[str | None] = mapped_column(String(256))
    installation_confirmed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    state_changed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    order: Mapped[CertificateOrder] = relationship()
    structure: Mapped[Structure] = relationship()
    certificate: Mapped[Certificate | None] = relationship(foreign_keys=[certificate_id])

    __table_args__ = (
        # SUIVRE pages: newest first within the structures an administrator may see.
        Index("ix_order_products_structure_id_id", "structure_id", "id"),
    )


class SecretAttempt(Base):
    """One try of a revocation code or a PKCS#12 password, for throttling (audit has it too)."""

    __tablename__ = "secret_attempts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # revocation_code | pkcs12_password
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    source: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    success: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_secret_attempts_certificate", "kind", "certificate_id", "at"),
        Index("ix_secret_attempts_source", "kind", "source", "at"),
    )


# ------------------------------------------------------------------------------------ portal


class WebSession(Base):
    """A portal session kept on the server; the cookie carries a random token, the table
    only its SHA-256 (a stolen database does not give live sessions)."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    actor_label: Mapped[str | None] = mapped_column(String(256))
    auth_method: Mapped[str | None] = mapped_column(String(16))  # card | ecps | operator
    card_number: Mapped[str | None] = mapped_column(String(21))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # wizard state, OIDC state
    source: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    authenticated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)


# ------------------------------------------------------------------------------------ REST API


class ApiToken(Base):
    """A personal API token: bound to an administrator (or the operator), scoped, expiring,
    revocable. Only the SHA-256 of the token is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # shown in lists to recognise a token
    name: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    scopes: Mapped[list[str]] = mapped_column(JSON)  # read | order | revoke
    created_by: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ApiIdempotencyKey(Base):
    """A client-chosen key of an order request, so a retried request never orders twice."""

    __tablename__ = "api_idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal: Mapped[str] = mapped_column(String(256))  # actor label (person or operator)
    key: Mapped[str] = mapped_column(String(128))
    request_hash: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("certificate_orders.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (UniqueConstraint("principal", "key"),)
