"""Logging in with a card: chain, clientAuth, validity and revocation are checked first."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from registry_world import ADMIN_A, P1, PHARMACIST, build_world

from sceau.pki.cards import (
    CARD_NUMBER_OID,
    PRODUCT_CATEGORY_CPX_TEST,
    PRODUCT_TYPE_OID,
    PROFESSION_OID,
    CardType,
)
from sceau.pki.errors import ErrorKind
from sceau.pki.profiles import PRODUCT_CATEGORY_OID
from sceau.registration.authorization import ActorKind
from sceau.registration.card_authentication import CardAuthenticationError
from sceau.registration.use_cases.cards import authenticate_card
from sceau.registration.use_cases.persons import actor_from_oidc_claims


@pytest.fixture
def world(services, leaf_keys):
    return build_world(services, leaf_keys)


def _refused(services, certificate) -> str:
    with pytest.raises(CardAuthenticationError) as refused:
        authenticate_card(services, certificate)
    assert refused.value.kind is ErrorKind.UNAUTHENTICATED
    return refused.value.code


def _forge(card, *, key, issuer_name=None, eku=True, not_before=None, not_after=None):
    """A certificate copying the card's subject and extensions, signed by ``key``."""
    cert = card.certificate
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(issuer_name or cert.issuer)
        .public_key(cert.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or cert.not_valid_before_utc)
        .not_valid_after(not_after or cert.not_valid_after_utc)
    )
    for extension in cert.extensions:
        if isinstance(extension.value, x509.ExtendedKeyUsage) and not eku:
            continue
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(key, hashes.SHA256())


def test_card_certificate_layout(world):
    card = world.cards[PHARMACIST].certificate
    last = list(card.subject.rdns)[-1]
    assert {a.oid for a in last} == {
        x509.NameOID.GIVEN_NAME,
        x509.NameOID.COMMON_NAME,
        x509.NameOID.SURNAME,
    }
    assert card.subject.get_attributes_for_oid(x509.NameOID.TITLE)[0].value == "Pharmacien"
    assert card.extensions.get_extension_for_oid(PRODUCT_TYPE_OID).value.value == bytes([2, 1, 0])
    assert card.extensions.get_extension_for_oid(PROFESSION_OID).value.value == bytes([2, 1, 21])
    number = card.extensions.get_extension_for_oid(CARD_NUMBER_OID).value.value
    assert number[0] == 0x13 and number[2:].decode() == world.cards[PHARMACIST].card_number
    assert card.extensions.get_extension_for_oid(PRODUCT_CATEGORY_OID).value.value == bytes(
        [4, 1, PRODUCT_CATEGORY_CPX_TEST]
    )
    assert "TEST AC IGC-SANTE FORT PERSONNES" in card.issuer.rfc4514_string()
    assert card.not_valid_after_utc.year - card.not_valid_before_utc.year == 3
    cpa = world.cards[ADMIN_A].certificate
    eku = cpa.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.2") in eku
    san = cpa.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert (
        san.get_values_for_type(x509.OtherName)[0].value[2:].decode() == f"{ADMIN_A}@carte-cps.fr"
    )
    assert (
        cpa.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
        == "LOGICIEL OFFICINE SA"
    )


def test_pkcs12_opens_with_its_password_and_openssl_verifies_the_chain(world, tmp_path):
    card = world.cards[ADMIN_A]
    _key, certificate, extra = pkcs12.load_key_and_certificates(card.pkcs12, b"pw")
    assert certificate == card.certificate and len(extra) == 2
    (tmp_path / "card.pem").write_bytes(card.pem)
    (tmp_path / "ca.pem").write_bytes(card.chain[0].public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.pem").write_bytes(card.chain[1].public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(
        [
            "openssl",
            "verify",
            "-purpose",
            "sslclient",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "ca.pem"),
            str(tmp_path / "card.pem"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_valid_card_authenticates_and_resolves_the_habilitations(world, services):
    actor, identity = authenticate_card(services, world.cards[ADMIN_A].pem)
    assert identity.idnat == ADMIN_A and identity.card_type is CardType.CPA
    assert identity.family_name == "MARTIN" and identity.given_name == "ALICE"
    assert actor.kind is ActorKind.ADMINISTRATOR
    assert actor.habilitated_structure_ids == {world.structure_ids[P1]}
    _, pharmacist = authenticate_card(services, world.cards[PHARMACIST].certificate)
    assert pharmacist.profession_code == 21 and pharmacist.card_type is CardType.CPS


def test_foreign_ca_is_refused(world, services, leaf_keys):
    foreign_name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "AC PIRATE")])
    forged = _forge(world.cards[ADMIN_A], key=leaf_keys[5], issuer_name=foreign_name)
    assert _refused(services, forged) == "card_foreign_ca"


def test_same_issuer_name_with_another_key_is_refused(world, services, leaf_keys):
    forged = _forge(world.cards[ADMIN_A], key=leaf_keys[5])
    assert _refused(services, forged) == "card_bad_signature"


def test_expired_and_not_yet_valid_cards_are_refused(world, services, clock):
    card = world.cards[ADMIN_A].certificate
    clock.set(card.not_valid_after_utc + dt.timedelta(seconds=1))
    assert _refused(services, card) == "card_expired"
    clock.set(card.not_valid_before_utc - dt.timedelta(minutes=5))
    assert _refused(services, card) == "card_not_yet_valid"


def test_revoked_card_is_refused(world, services):
    with services.unit_of_work() as uow:
        row = uow.certificates.by_serial(world.cards[ADMIN_A].serial)
        row.revoked_at = services.clock.now()
        row.revocation_reason = "keyCompromise"
        uow.commit()
    assert _refused(services, world.cards[ADMIN_A].certificate) == "card_revoked"
    with services.unit_of_work() as uow:
        refusals = [e for e in uow.audit.list(action="auth.card") if e.outcome == "refused"]
        assert refusals[0].details["code"] == "card_revoked"


def test_certificate_without_client_auth_is_refused(world, services):
    from sceau.pki.issuance import sign_tbs
    from sceau.registration.use_cases.certificate_authorities import issuer_context

    # Signed by the real persons CA, but without the clientAuth EKU (our builder always adds it).
    with services.unit_of_work() as uow:
        authority = uow.authorities.by_role("test", "persons")
        issuer = issuer_context(authority)
        key_reference = authority.key_reference
    signed = sign_tbs(
        _forge(
            world.cards[ADMIN_A], key=world.cards[ADMIN_A].private_key, eku=False
        ).tbs_certificate_bytes,
        services.keyring.load(key_reference),
        issuer.certificate,
    )
    assert _refused(services, signed) == "card_no_client_auth"


def test_ecps_login_maps_to_the_same_person(world, services):
    actor = actor_from_oidc_claims(services, {"SubjectNameID": ADMIN_A, "given_name": "Alice"})
    assert actor.person_id is not None and actor.idnat == ADMIN_A
    card_actor, _ = authenticate_card(services, world.cards[ADMIN_A].pem)
    assert card_actor == actor
    with pytest.raises(Exception) as refused:
        actor_from_oidc_claims(services, {"SubjectNameID": "899700218896"})
    assert refused.value.kind is ErrorKind.UNAUTHENTICATED
