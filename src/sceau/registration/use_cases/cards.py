"""CPx cards: issue (form 301 for vendor staff), renew, and log in with one.

A card is a person's authentication certificate from the persons CA, delivered as a
password-protected PKCS#12. Issuance follows the record-then-sign discipline of
``issue_certificate``: the linted TBS is committed in ``certificates`` (usage ``CARD_AUTH``,
no structure) before the CA key signs it. Habilitations hang on the person, not on the card,
so they follow the holder when the card is renewed.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.pki.cards import CARD_ISSUER_ID, CardHolder, CardType, prepare_card_certificate
from sceau.pki.csr import public_key_fingerprint
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.issuance import new_serial, sign_tbs
from sceau.pki.pkcs12 import ans_legacy_pkcs12
from sceau.registration.authorization import Action, Actor, actor_for_person
from sceau.registration.card_authentication import (
    CardAuthenticationError,
    CardIdentity,
    authenticate_card_certificate,
)
from sceau.registration.departments import state_value
from sceau.registration.identifiers import PersonIdKind, parse_idnat
from sceau.registration.ports import Services
from sceau.registration.use_cases.certificate_authorities import issuer_context
from sceau.registration.use_cases.issue_certificate import chain_of
from sceau.registration.use_cases.registry_common import (
    as_actor,
    audit,
    open_uow,
    require_operator,
)

CARD_USAGE = "CARD_AUTH"


@dataclass(frozen=True)
class IssueCardCommand:
    person_idnat: str
    card_type: CardType | str
    password: bytes | None = None  # PKCS#12 password; generated when None
    private_key: rsa.RSAPrivateKey | None = None  # generated (RSA-2048) when None
    form: str | None = None  # "301" for a CPA request by vendor staff
    replaces_card_number: str | None = None
    actor: Actor | str = "operator"
    environment: str = "test"


@dataclass(frozen=True)
class IssuedCard:
    card_number: str
    card_type: CardType
    serial: str
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    private_key: rsa.RSAPrivateKey
    pkcs12: bytes
    password: bytes

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)


def _new_card_number(uow: Any, card_type: CardType) -> str:
    while True:
        number = f"{CARD_ISSUER_ID}/{card_type.card_number_prefix}{secrets.randbelow(10**8):08d}"
        if not uow.cards.number_exists(number):
            return number


def _holder(
    uow: Any, person: Any, card_type: CardType, card_number: str, environment: str
) -> CardHolder:
    """Check the person may hold this type of card and build the card's subject data."""
    person_id = parse_idnat(person.idnat, environment=environment)
    common = {
        "idnat": person.idnat,
        "family_name": person.family_name,
        "given_name": person.given_name,
        "card_type": card_type,
        "card_number": card_number,
    }
    if card_type is CardType.CPS:
        if not person_id.is_health_professional or person.profession_code is None:
            raise SceauError(
                "card_type_mismatch",
                f"carte CPS refusée pour {person.idnat}: réservée aux professionnels de santé "
                "(idNat 8 RPPS ou 0 ADELI) dont la profession est connue",
            )
        return CardHolder(**common, profession_code=person.profession_code)
    if card_type is CardType.CPE:
        structure = uow.structures.by_id(person.structure_id) if person.structure_id else None
        if structure is None or person_id.kind is not PersonIdKind.FINESS_STAFF:
            raise SceauError(
                "card_type_mismatch",
                f"carte CPE refusée pour {person.idnat}: réservée au personnel d'une structure "
                "FINESS (idNat 3<FINESS>/<n°>) rattaché à cette structure",
            )
        return CardHolder(
            **common,
            organisation=structure.raison_sociale,
            organisation_id=structure.idnst,
            state=state_value(structure.department_code),
        )
    vendor = uow.vendors.by_id(person.vendor_id) if person.vendor_id else None
    if vendor is None:
        raise SceauError(
            "card_type_mismatch",
            f"carte CPA refusée pour {person.idnat}: réservée au personnel d'un éditeur enregistré",
        )
    if not uow.contracts.has_active(vendor_id=vendor.id):
        raise SceauError(
            "vendor_without_contract",
            f"carte CPA refusée: l'éditeur {vendor.name} (SIREN {vendor.siren}) n'a pas de "
            "contrat d'adhésion actif avec l'ANS (prérequis du formulaire 301)",
            ErrorKind.CONFLICT,
        )
    return CardHolder(
        **common,
        organisation=vendor.name,
        organisation_id=f"2{vendor.siren}",
        state=state_value(vendor.department_code) if vendor.department_code else None,
    )


def issue_card(services: Services, command: IssueCardCommand) -> IssuedCard:
    """Issue a card certificate and its PKCS#12 (record, then sign)."""
    actor = as_actor(command.actor)
    card_type = (
        command.card_type
        if isinstance(command.card_type, CardType)
        else CardType.parse(command.card_type)
    )
    key = command.private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    fingerprint = public_key_fingerprint(key.public_key())
    password = command.password or secrets.token_urlsafe(12).encode()
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(uow, actor, Action.CARD_ISSUE, at=now, target=command.person_idnat)
        person = uow.persons.by_idnat(command.person_idnat.strip())
        if person is None:
            raise SceauError(
                "person_not_found",
                f"personne {command.person_idnat!r} inconnue",
                ErrorKind.NOT_FOUND,
            )
        replaced = None
        if command.replaces_card_number:
            replaced = uow.cards.by_number(command.replaces_card_number)
            if replaced is None or replaced.person_id != person.id:
                raise SceauError(
                    "card_not_found",
                    f"carte {command.replaces_card_number} inconnue pour {person.idnat}",
                    ErrorKind.NOT_FOUND,
                )
            if replaced.status != "active":
                raise SceauError(
                    "card_not_active",
                    f"carte {replaced.card_number}: statut {replaced.status}",
                    ErrorKind.CONFLICT,
                )
        if uow.certificates.by_key_fingerprint(fingerprint):
            raise SceauError(
                "card_key_reused", "cette clé est déjà certifiée: une clé neuve par carte"
            )
        authority = uow.authorities.by_role(command.environment, "persons")
        if authority is None:
            raise SceauError(
                "no_persons_ca",
                f"aucune AC {command.environment.upper()} pour les personnes: lancer `sceau init`",
                ErrorKind.CONFLICT,
            )
        issuer = issuer_context(authority)
        card_number = _new_card_number(uow, card_type)
        holder = _holder(uow, person, card_type, card_number, command.environment)
        serial = new_serial()
        while uow.certificates.serial_exists(format(serial, "032x")):
            serial = new_serial()
        prepared = prepare_card_certificate(
            holder, key.public_key(), issuer, serial, now, test=command.environment == "test"
        )
        row = uow.certificates.create(
            serial=prepared.serial_hex,
            authority_id=authority.id,
            structure_id=None,
            usage=CARD_USAGE,
            insi=False,
            status="prepared",
            subject=prepared.lint_copy.subject.rfc4514_string(),
            common_name=person.idnat,
            dns_names=None,
            key_fingerprint=fingerprint,
            tbs_der=prepared.tbs,
            not_before=prepared.not_before,
            not_after=prepared.not_after,
            prepared_at=now,
            replaces_id=replaced.certificate_id if replaced is not None else None,
            lint_warnings=None,
        )
        uow.cards.create(
            person_id=person.id,
            card_type=card_type.value,
            card_number=card_number,
            status="active",
            not_before=prepared.not_before,
            not_after=prepared.not_after,
            certificate_id=row.id,
            replaces_id=replaced.id if replaced is not None else None,
            form=command.form,
            created_at=now,
        )
        if replaced is not None:
            replaced.status = "replaced"
            old_certificate = (
                uow.certificates.by_id(replaced.certificate_id) if replaced.certificate_id else None
            )
            if old_certificate is not None and old_certificate.revoked_at is None:
                old_certificate.revoked_at = now
                old_certificate.revocation_reason = "superseded"
        audit(
            uow,
            at=now,
            actor=actor,
            action="card.prepare",
            target=card_number,
            details={
                "person": person.idnat,
                "type": card_type.value,
                "serial": prepared.serial_hex,
                "form": command.form,
                "replaces": command.replaces_card_number,
            },
        )
        uow.commit()  # the intent is durable before any signature
        certificate_id = row.id
        chain = chain_of(uow, authority)
        key_reference = authority.key_reference
    certificate = sign_tbs(prepared.tbs, services.keyring.load(key_reference), issuer.certificate)
    with open_uow(services) as uow:
        uow.certificates.mark_issued(
            certificate_id,
            certificate.public_bytes(serialization.Encoding.DER),
            services.clock.now(),
        )
        audit(
            uow,
            at=services.clock.now(),
            actor=actor,
            action="card.issue",
            target=card_number,
            details={"serial": prepared.serial_hex},
        )
        uow.commit()
    pkcs12 = ans_legacy_pkcs12(
        key, certificate, chain, password, friendly_name=card_number.encode("ascii")
    )
    return IssuedCard(
        card_number, card_type, prepared.serial_hex, certificate, chain, key, pkcs12, password
    )


def renew_card(
    services: Services,
    card_number: str,
    *,
    actor: Actor | str = "operator",
    password: bytes | None = None,
    private_key: rsa.RSAPrivateKey | None = None,
    environment: str = "test",
) -> IssuedCard:
    """A new card for the same holder; the old one is replaced and its certificate revoked."""
    with open_uow(services) as uow:
        card = uow.cards.by_number(card_number.strip())
        if card is None:
            raise SceauError("card_not_found", f"carte {card_number} inconnue", ErrorKind.NOT_FOUND)
        person = uow.persons.by_id(card.person_id)
        idnat, card_type = person.idnat, CardType(card.card_type)
    return issue_card(
        services,
        IssueCardCommand(
            person_idnat=idnat,
            card_type=card_type,
            password=password,
            private_key=private_key,
            replaces_card_number=card_number.strip(),
            actor=actor,
            environment=environment,
        ),
    )


def _load_certificate(presented: x509.Certificate | bytes) -> x509.Certificate:
    if isinstance(presented, x509.Certificate):
        return presented
    try:
        if presented.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(presented)
        return x509.load_der_x509_certificate(presented)
    except ValueError:
        raise CardAuthenticationError(
            "card_malformed", "carte refusée: certificat client illisible"
        ) from None


def authenticate_card(
    services: Services, presented: x509.Certificate | bytes, *, source: str | None = None
) -> tuple[Actor, CardIdentity]:
    """Log in with a card: every check of ``authenticate_card_certificate``, then the registry
    (the card is known and active, its holder is a known person). Every attempt is audited."""
    now = services.clock.now()
    with open_uow(services) as uow:
        try:
            certificate = _load_certificate(presented)
            anchors = [
                x509.load_der_x509_certificate(authority.certificate_der)
                for authority in uow.authorities.all()
                if authority.role == "persons"
            ]

            def is_revoked(cert: x509.Certificate) -> bool:
                row = uow.certificates.by_serial(format(cert.serial_number, "032x"))
                if row is None or row.usage != CARD_USAGE:
                    raise CardAuthenticationError(
                        "card_unknown", "carte refusée: certificat inconnu du registre"
                    )
                return row.revoked_at is not None and row.revoked_at <= now

            identity = authenticate_card_certificate(certificate, anchors, is_revoked, now)
            card = uow.cards.by_number(identity.card_number)
            person = uow.persons.by_idnat(identity.idnat)
            if card is None or person is None or card.person_id != person.id:
                raise CardAuthenticationError(
                    "card_unknown", "carte refusée: carte ou titulaire inconnu du registre"
                )
            if card.status != "active":
                raise CardAuthenticationError(
                    "card_not_active", f"carte refusée: carte {card.card_number} {card.status}"
                )
        except CardAuthenticationError as error:
            uow.rollback()
            uow.audit.record(
                at=now,
                actor="card:unauthenticated",
                action="auth.card",
                outcome="refused",
                target=None,
                details={"code": error.code, "reason": error.message},
                source=source,
            )
            uow.commit()
            raise
        actor = actor_for_person(uow, person)
        uow.audit.record(
            at=now,
            actor=actor.label,
            action="auth.card",
            outcome="success",
            target=identity.card_number,
            source=source,
        )
        uow.commit()
        return actor, identity
