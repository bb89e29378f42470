"""RETIRER: choose a revocation code, accept the CGU and the PC, download the certificate.

The code is typed twice and stored only as an argon2id hash. ``retrieve_order`` retrieves
every certificate of an order at once (the fleet client's path): the code is hashed once and
that hash kept for each certificate (same code, same salt: no weaker than one hash per
certificate), or the platform draws a 160-bit code itself, returned once (see
``revocation_codes``). Each certificate still gets its own audit record and notification.
The CGU and PC versions
accepted are recorded. Downloads: certificate + chain in PEM, the certificate in DER, the
chain in PKCS#7; for an online-generated key the PKCS#12, decrypted with the password given
at request time and re-encoded in the layout asked for (ANS 3DES/SHA-1 by default, AES-256
as an option). The stored PKCS#12 is then destroyed: a lost password cannot be recovered,
a new request is needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.pkcs12 import Pkcs12Error, ans_legacy_pkcs12, load_pkcs12, modern_pkcs12
from sceau.pki.pkcs12 import pkcs12_filename as p12_name
from sceau.registration.authorization import Action, Actor, authorize
from sceau.registration.orders import notices
from sceau.registration.orders.access import load_certificate, load_order
from sceau.registration.orders.revocation_codes import (
    KIND_PKCS12,
    ensure_not_locked,
    generate_revocation_code,
    new_revocation_code,
    record_attempt,
)
from sceau.registration.orders.states import ProductState, effective_state, transition
from sceau.registration.orders.views import ProductView
from sceau.registration.ports import Services
from sceau.registration.use_cases.issue_certificate import chain_of
from sceau.registration.use_cases.registry_common import as_actor, open_uow

# The texts the administrator accepts; adapters show these versions and send them back.
CURRENT_CGU_VERSION = "CGU-SCEAU-1.0"
CURRENT_PC_VERSION = "PC-ORG-TEST-1.0"
PKCS12_LAYOUTS = ("ans", "aes")


@dataclass(frozen=True)
class RetrieveCommand:
    serial: str
    revocation_code: str
    revocation_code_confirmation: str
    accept_terms: bool  # "le bénéficiaire reconnaît accepter le certificat, les CGU et la PC"
    cgu_version: str = CURRENT_CGU_VERSION
    pc_version: str = CURRENT_PC_VERSION
    pkcs12_password: str | None = None  # online-generated keys: the password chosen at request
    pkcs12_layout: str = "ans"  # ans (3DES, SHA-1 MAC) | aes (AES-256, SHA-256 MAC)
    actor: Actor | str = "operator"
    source: str | None = None


@dataclass(frozen=True)
class RetrieveOrderCommand:
    """RETIRER every certificate of an order with one revocation code.

    Either ``revocation_code`` (typed twice, argon2id-hashed once for the whole order) or
    ``generate_revocation_code`` (the platform draws one and returns it once).
    """

    order_id: int
    accept_terms: bool
    revocation_code: str | None = None
    revocation_code_confirmation: str | None = None
    generate_revocation_code: bool = False
    cgu_version: str = CURRENT_CGU_VERSION
    pc_version: str = CURRENT_PC_VERSION
    pkcs12_password: str | None = None
    pkcs12_layout: str = "ans"
    actor: Actor | str = "operator"
    source: str | None = None


@dataclass(frozen=True)
class DownloadFile:
    name: str
    content: bytes
    media_type: str


@dataclass(frozen=True)
class CertificateFiles:
    serial: str
    files: tuple[DownloadFile, ...]

    def by_extension(self, extension: str) -> DownloadFile:
        for item in self.files:
            if item.name.endswith(extension):
                return item
        raise KeyError(extension)


@dataclass(frozen=True)
class OrderRetrieval:
    """The files of each certificate of the order, its product after retrieval, and the
    revocation code when the platform drew it (shown this once, never stored in clear)."""

    order_id: int
    certificates: tuple[CertificateFiles, ...]
    products: tuple[ProductView, ...]
    revocation_code: str | None = None


def _stem(environment: str, usage: str, certificate: Any) -> str:
    # sceau-p12-TEST-ORG-AUTH_CLI-20261129-103506.p12, after the ANS download names.
    return p12_name(environment, usage, certificate.not_before).removesuffix(".p12")


def public_files(uow: Any, certificate: Any) -> list[DownloadFile]:
    """PEM (leaf then chain), DER (leaf), PKCS#7 (leaf and chain) of an issued certificate."""
    leaf = x509.load_der_x509_certificate(certificate.certificate_der)
    chain = chain_of(uow, certificate.authority)  # issuing CA, then root
    authority = certificate.authority
    stem = _stem(authority.environment, certificate.usage, certificate).replace(
        "sceau-p12-", "sceau-cert-"
    )
    everything = [leaf, *chain]
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in everything)
    return [
        DownloadFile(f"{stem}.pem", pem, "application/x-pem-file"),
        DownloadFile(
            f"{stem}.cer", leaf.public_bytes(serialization.Encoding.DER), "application/pkix-cert"
        ),
        DownloadFile(
            f"{stem}.p7b",
            pkcs7.serialize_certificates(everything, serialization.Encoding.DER),
            "application/x-pkcs7-certificates",
        ),
    ]


def _check_terms(command: RetrieveCommand | RetrieveOrderCommand) -> None:
    if not command.accept_terms:
        raise SceauError(
            "terms_not_accepted",
            "le retrait exige d'accepter le certificat, les CGU et la politique de certification",
        )
    if (command.cgu_version, command.pc_version) != (CURRENT_CGU_VERSION, CURRENT_PC_VERSION):
        raise SceauError(
            "terms_outdated",
            f"versions acceptées périmées: CGU {CURRENT_CGU_VERSION} et PC {CURRENT_PC_VERSION} "
            "en vigueur; relire et accepter les textes actuels",
            ErrorKind.CONFLICT,
        )
    if command.pkcs12_layout not in PKCS12_LAYOUTS:
        raise SceauError(
            "pkcs12_layout", f"format PKCS#12 {command.pkcs12_layout!r}: choisir ans ou aes"
        )


def _open_pkcs12(
    uow: Any,
    product: Any,
    certificate: Any,
    command: RetrieveCommand | RetrieveOrderCommand,
    actor: Actor,
    now: Any,
) -> tuple[Any, bytes]:
    """The key of an online-generated product, or a refusal (audited and counted)."""
    if product.pkcs12_blob is None:
        raise SceauError(
            "pkcs12_gone",
            "la clé générée en ligne n'est plus disponible: une nouvelle demande est nécessaire",
            ErrorKind.CONFLICT,
        )
    ensure_not_locked(
        uow,
        kind=KIND_PKCS12,
        certificate_id=certificate.id,
        source=command.source,
        now=now,
        actor=actor.label,
        target=certificate.serial,
    )
    password = (command.pkcs12_password or "").encode()
    try:
        key, _, _ = load_pkcs12(product.pkcs12_blob, password)
    except Pkcs12Error as exc:
        record_attempt(
            uow,
            kind=KIND_PKCS12,
            success=False,
            certificate_id=certificate.id,
            source=command.source,
            now=now,
            actor=actor.label,
            target=certificate.serial,
            details={"why": exc.code},
        )
        uow.commit()
        raise SceauError(
            "pkcs12_wrong_password",
            "mot de passe de protection de la clé incorrect. La plateforme ne le conserve pas "
            "et ne peut pas le retrouver: s'il est perdu, une nouvelle demande est nécessaire "
            "(annuler celle-ci)",
        ) from None
    record_attempt(
        uow,
        kind=KIND_PKCS12,
        success=True,
        certificate_id=certificate.id,
        source=command.source,
        now=now,
        actor=actor.label,
        target=certificate.serial,
    )
    return key, password


def retrieve_certificate(services: Services, command: RetrieveCommand) -> CertificateFiles:
    """Finalise (RETIRER) an issued certificate and return its files."""
    actor = as_actor(command.actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        certificate, product, fresh = load_certificate(
            uow, actor, Action.CERTIFICATE_RETRIEVE, command.serial, at=now, for_update=True
        )
        if product is None:
            raise SceauError(
                "not_ordered",
                f"le certificat {certificate.serial} n'a pas été commandé sur la plateforme: "
                "rien à retirer",
                ErrorKind.CONFLICT,
            )
        target = _retrievable(product, certificate, now)
        _check_terms(command)
        code_hash = new_revocation_code(
            command.revocation_code, command.revocation_code_confirmation
        )
        order = uow.orders.order_by_id(product.order_id)
        files = _finalise(
            services, uow, command, fresh, order, product, certificate, target, code_hash, now
        )
        uow.commit()
        return files


def retrieve_order(services: Services, command: RetrieveOrderCommand) -> OrderRetrieval:
    """RETIRER every certificate of an order in one transaction, all or none.

    Every product of the order must be issued (not yet retrieved, revoked, rejected…):
    otherwise nothing is retrieved (``invalid_transition``), so a retried call never
    retrieves half an order.
    """
    actor = as_actor(command.actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        order = uow.orders.order_by_id(command.order_id)
        if order is None:  # refused as any unknown order is (existence hidden)
            load_order(uow, actor, Action.CERTIFICATE_RETRIEVE, command.order_id, at=now)
        fresh = authorize(
            uow,
            actor,
            Action.CERTIFICATE_RETRIEVE,
            order.structure_id,
            at=now,
            target=f"order:{order.id}",
        )
        listed = uow.orders.products_of(order.id)
        # The rows are read again under the lock below: drop what the listing loaded, so
        # that a concurrent retrieval of the same order is seen (never retrieved twice).
        for stale in listed:
            uow.session.expire(stale)
        rows = []
        for product_id in [p.id for p in listed]:
            product = uow.orders.product_by_id(product_id, for_update=True)
            certificate = (
                uow.certificates.by_id(product.certificate_id)
                if product.certificate_id is not None
                else None
            )
            if certificate is None or certificate.status != "issued":
                transition(product.state, ProductState.RETRIEVED)  # refuses: not issued
                raise SceauError(
                    "not_issued",
                    f"demande {order.id}: certificat pas encore émis",
                    ErrorKind.CONFLICT,
                )
            rows.append((product, certificate, _retrievable(product, certificate, now)))
        if not rows:
            raise SceauError(
                "order_empty", f"demande {order.id}: aucun certificat", ErrorKind.CONFLICT
            )
        _check_terms(command)
        generated: str | None = None
        if command.generate_revocation_code:
            if command.revocation_code or command.revocation_code_confirmation:
                raise SceauError(
                    "revocation_code_choice",
                    "choisir le code de révocation OU le faire tirer par la plateforme, pas "
                    "les deux",
                )
            generated, code_hash = generate_revocation_code()
        else:
            code_hash = new_revocation_code(
                command.revocation_code or "", command.revocation_code_confirmation or ""
            )
        structure = uow.structures.by_id(order.structure_id)
        certificates, products = [], []
        audit: list[dict[str, Any]] = []
        for product, certificate, target in rows:
            certificates.append(
                _finalise(
                    services,
                    uow,
                    command,
                    fresh,
                    order,
                    product,
                    certificate,
                    target,
                    code_hash,
                    now,
                    generated=generated is not None,
                    audit=audit,
                )
            )
            products.append(ProductView.of(product, certificate, structure, now))
        uow.audit.record_many(audit)  # one record per certificate, chained in one flush
        uow.commit()
        return OrderRetrieval(order.id, tuple(certificates), tuple(products), generated)


def _retrievable(product: Any, certificate: Any, now: Any) -> ProductState:
    state = effective_state(
        product.state,
        not_after=certificate.not_after,
        revoked_at=certificate.revoked_at,
        now=now,
    )
    return transition(state, ProductState.RETRIEVED)


def _finalise(
    services: Services,
    uow: Any,
    command: RetrieveCommand | RetrieveOrderCommand,
    fresh: Actor,
    order: Any,
    product: Any,
    certificate: Any,
    target: ProductState,
    code_hash: str,
    now: Any,
    *,
    generated: bool = False,
    audit: list[dict[str, Any]] | None = None,
) -> CertificateFiles:
    """Mark one product retrieved with ``code_hash``, audit it (or add its audit record to
    ``audit``, for the caller to write), and build its files."""
    files = public_files(uow, certificate)
    if product.key_source == "online":
        key, password = _open_pkcs12(uow, product, certificate, command, fresh, now)
        leaf = x509.load_der_x509_certificate(certificate.certificate_der)
        chain = chain_of(uow, certificate.authority)
        writer = ans_legacy_pkcs12 if command.pkcs12_layout == "ans" else modern_pkcs12
        p12 = writer(key, leaf, chain, password)
        name = _stem(certificate.authority.environment, certificate.usage, certificate)
        files.insert(0, DownloadFile(f"{name}.p12", p12, "application/x-pkcs12"))
        uow.orders.wipe_pkcs12(product)
    product.state = target.value
    product.revocation_code_hash = code_hash
    product.cgu_version = command.cgu_version
    product.pc_version = command.pc_version
    product.retrieved_at = now
    product.retrieved_by = fresh.label
    product.state_changed_at = now
    notices.record_product_event(
        uow,
        services,
        notices.CERTIFICATE_RETRIEVED,
        at=now,
        order=order,
        product=product,
        structure=uow.structures.by_id(product.structure_id),
        certificate=certificate,
        actor_label=fresh.label,
    )
    details: dict[str, Any] = {
        "cgu": command.cgu_version,
        "pc": command.pc_version,
        "pkcs12": product.key_source == "online",
        "layout": command.pkcs12_layout if product.key_source == "online" else None,
    }
    if isinstance(command, RetrieveOrderCommand):
        details["order"] = order.id
        details["code"] = "generated" if generated else "chosen"
    event = {
        "at": now,
        "actor": fresh.label,
        "action": "certificate.retrieve",
        "outcome": "success",
        "target": certificate.serial,
        "details": details,
        "source": command.source,
    }
    if audit is None:
        uow.audit.record(**event)
    else:
        audit.append(event)
    return CertificateFiles(certificate.serial, tuple(files))


def download_certificate(
    services: Services, serial: str, actor: Actor | str = "operator"
) -> CertificateFiles:
    """The public files of a certificate again (never a key: that left with the retrieval)."""
    who = as_actor(actor)
    now = services.clock.now()
    with open_uow(services) as uow:
        certificate, _, _ = load_certificate(uow, who, Action.CERTIFICATE_READ, serial, at=now)
        return CertificateFiles(certificate.serial, tuple(public_files(uow, certificate)))
