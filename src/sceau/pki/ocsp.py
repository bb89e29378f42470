"""OCSP (RFC 6960, lightweight profile of RFC 5019): parse requests, sign responses.

Responses are signed by a *delegated responder* (a certificate with id-kp-OCSPSigning issued
by the CA), through the ``SigningKey`` protocol so the responder key may live in a file or a
token: ``cryptography``'s builder encodes the ResponseData for a throw-away Ed25519 signer
(the ResponseData does not name the signature algorithm), the real responder's ResponderID is
put in its place, the responder key signs those exact bytes, and the BasicOCSPResponse is
assembled here and checked.

Nonces: responses are pre-signed and served from a cache, so they cannot echo a request
nonce. Request nonces are ignored, as RFC 5019 §4 allows and as most public CAs do; clients
rely on thisUpdate/nextUpdate for freshness.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sceau.pki.der import (
    SHA256_WITH_RSA_ALGORITHM,
    bit_string,
    octet_string,
    oid,
    sequence,
    tagged,
    tlv,
)
from sceau.pki.errors import ErrorKind, KeyBackendError, SceauError
from sceau.pki.signing.base import SigningKey

MAX_REQUEST_BYTES = 10 * 1024
# RFC 5019 §2.1.1: lightweight clients identify certificates with SHA-1 CertIDs, so that is
# the hash pre-signed responses use; a request with another hash gets a response signed live.
PRESIGNED_HASH: hashes.HashAlgorithm = hashes.SHA1()  # noqa: S303  # CertID, not a signature
_BASIC_RESPONSE_OID = "1.3.6.1.5.5.7.48.1.1"  # id-pkix-ocsp-basic
_SUCCESSFUL = tlv(0x0A, b"\x00")  # OCSPResponseStatus ::= ENUMERATED { successful (0) … }


class OcspRequestError(SceauError):
    """An OCSP request we cannot read; the responder answers ``malformedRequest``."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, ErrorKind.INVALID_INPUT)


class Status(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class CertificateStatus:
    """What the responder says about one serial. ``UNKNOWN`` is for serials we did not issue."""

    status: Status
    revoked_at: dt.datetime | None = None
    reason: x509.ReasonFlags | None = None

    def __post_init__(self) -> None:
        if (self.status is Status.REVOKED) != (self.revoked_at is not None):
            raise ValueError("a revocation time is given exactly when the status is revoked")
        if self.reason is not None and self.status is not Status.REVOKED:
            raise ValueError("a revocation reason is only given for a revoked certificate")


GOOD = CertificateStatus(Status.GOOD)
UNKNOWN = CertificateStatus(Status.UNKNOWN)

_CERT_STATUS = {
    Status.GOOD: ocsp.OCSPCertStatus.GOOD,
    Status.REVOKED: ocsp.OCSPCertStatus.REVOKED,
    Status.UNKNOWN: ocsp.OCSPCertStatus.UNKNOWN,
}


@dataclass(frozen=True)
class CertificateId:
    """The CertID of a request: which issuer (by name and key hash) and which serial."""

    serial: int
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    algorithm: hashes.HashAlgorithm


def parse_request(data: bytes) -> CertificateId:
    """Read a DER OCSPRequest holding exactly one CertID; extensions (nonce) are ignored."""
    if not data:
        raise OcspRequestError("ocsp_request_empty", "the OCSP request is empty")
    if len(data) > MAX_REQUEST_BYTES:
        raise OcspRequestError(
            "ocsp_request_too_large",
            f"the OCSP request is {len(data)} bytes; at most {MAX_REQUEST_BYTES} are accepted",
        )
    try:
        request = ocsp.load_der_ocsp_request(data)
        serial = request.serial_number
        name_hash = request.issuer_name_hash
        key_hash = request.issuer_key_hash
    except ValueError as exc:
        raise OcspRequestError(
            "ocsp_request_malformed",
            f"not a DER OCSP request with exactly one certificate (RFC 6960 §4.1): {exc}",
        ) from None
    if serial <= 0 or serial.bit_length() > 159:
        raise OcspRequestError(
            "ocsp_request_serial",
            "the serial number asked about is not a positive integer of at most 20 octets "
            "(RFC 5280 §4.1.2.2)",
        )
    try:
        algorithm = request.hash_algorithm
    except UnsupportedAlgorithm:
        raise OcspRequestError(
            "ocsp_request_hash", "the CertID hash algorithm is not one of SHA-1 or SHA-2"
        ) from None
    if len(name_hash) != algorithm.digest_size or len(key_hash) != algorithm.digest_size:
        raise OcspRequestError(
            "ocsp_request_malformed", "the CertID hashes do not have the size of their algorithm"
        )
    return CertificateId(serial, name_hash, key_hash, algorithm)


def issuer_hashes(issuer: x509.Certificate, algorithm: hashes.HashAlgorithm) -> tuple[bytes, bytes]:
    """(issuerNameHash, issuerKeyHash) of ``issuer`` for ``algorithm`` (RFC 6960 §4.1.1)."""
    public_key = issuer.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyBackendError("ca_key_type", "only RSA CA keys are supported")
    # For RSA, the subjectPublicKey BIT STRING holds the PKCS#1 RSAPublicKey.
    key_bits = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    name_digest = hashes.Hash(algorithm)
    name_digest.update(issuer.subject.public_bytes())
    key_digest = hashes.Hash(algorithm)
    key_digest.update(key_bits)
    return name_digest.finalize(), key_digest.finalize()


@dataclass(frozen=True)
class OcspSigner:
    """A CA as its OCSP responder: the CA certificate, the delegated responder certificate
    (issued by the CA, id-kp-OCSPSigning) and the responder's key."""

    issuer: x509.Certificate
    certificate: x509.Certificate
    key: SigningKey

    def __post_init__(self) -> None:
        if self.certificate.issuer != self.issuer.subject:
            raise KeyBackendError(
                "ocsp_responder_issuer", "the OCSP responder certificate is not issued by the CA"
            )
        try:
            eku = self.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = x509.ExtendedKeyUsage([])
        if ExtendedKeyUsageOID.OCSP_SIGNING not in eku:
            raise KeyBackendError(
                "ocsp_responder_usage", "the OCSP responder certificate lacks id-kp-OCSPSigning"
            )
        if self.key.public_key().public_numbers() != _rsa_public(self.certificate).public_numbers():
            raise KeyBackendError(
                "ocsp_responder_key", "the OCSP responder key does not match its certificate"
            )

    @functools.cached_property
    def responder_id(self) -> bytes:
        """The DER ``byKey`` ResponderID naming this responder."""
        return _responder_id_by_key(
            _rsa_public(self.certificate).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.PKCS1
            )
        )

    def serves(self, certificate_id: CertificateId) -> bool:
        """Whether the request is about a certificate issued by this signer's CA."""
        name_hash, key_hash = _cached_issuer_hashes(self.issuer, certificate_id.algorithm.name)
        return (certificate_id.issuer_name_hash, certificate_id.issuer_key_hash) == (
            name_hash,
            key_hash,
        )


def _rsa_public(certificate: x509.Certificate) -> rsa.RSAPublicKey:
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KeyBackendError("ocsp_responder_key", "the OCSP responder key must be RSA")
    return public_key


_HASHES: dict[str, hashes.HashAlgorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        hashes.SHA1(),  # noqa: S303  # CertID hashes, not signatures
        hashes.SHA224(),
        hashes.SHA256(),
        hashes.SHA384(),
        hashes.SHA512(),
    )
}


@functools.lru_cache(maxsize=64)
def _cached_issuer_hashes(issuer: x509.Certificate, algorithm_name: str) -> tuple[bytes, bytes]:
    return issuer_hashes(issuer, _HASHES[algorithm_name])


@functools.cache
def _draft_signer() -> tuple[ed25519.Ed25519PrivateKey, x509.Certificate, bytes]:
    """A throw-away Ed25519 key with a certificate, used to have the builder encode the
    ResponseData; returns the key, its certificate and the ``byKey`` ResponderID it yields."""
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sceau draft OCSP signer")])
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=1))
        .sign(key, None)
    )
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return key, certificate, _responder_id_by_key(raw)


def _responder_id_by_key(subject_public_key: bytes) -> bytes:
    """``ResponderID ::= byKey [2] EXPLICIT KeyHash`` (SHA-1 of the subjectPublicKey bits)."""
    digest = hashes.Hash(hashes.SHA1())  # noqa: S303  # RFC 6960 KeyHash is SHA-1
    digest.update(subject_public_key)
    return tlv(0xA2, octet_string(digest.finalize()))


def _with_responder_id(tbs: bytes, draft_id: bytes, responder_id: bytes) -> bytes:
    """Put the real responder's ResponderID in a ResponseData encoded for the draft signer.

    Both are 24 bytes (a SHA-1 key hash), so no length around them changes.
    """
    header = 2 + (tbs[1] & 0x7F if tbs[1] & 0x80 else 0)
    if tbs[0] != 0x30 or tbs[header : header + len(draft_id)] != draft_id:
        raise KeyBackendError(
            "ocsp_draft_layout", "unexpected ResponseData layout from the builder"
        )
    return tbs[:header] + responder_id + tbs[header + len(draft_id) :]


def sign_response(
    signer: OcspSigner,
    serial: int,
    status: CertificateStatus,
    this_update: dt.datetime,
    next_update: dt.datetime,
    algorithm: hashes.HashAlgorithm = PRESIGNED_HASH,
) -> bytes:
    """A successful, signed OCSP response (DER) about ``serial`` of ``signer``'s CA.

    The responder is named by key hash and its certificate is included, so clients that
    trust only the CA can check the delegation (RFC 6960 §4.2.2.2).
    """
    if next_update <= this_update:
        raise ValueError("nextUpdate must come after thisUpdate")
    if algorithm.name not in _HASHES:
        raise ValueError(f"unsupported CertID hash {algorithm.name}")
    name_hash, key_hash = _cached_issuer_hashes(signer.issuer, algorithm.name)
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        name_hash,
        key_hash,
        serial,
        _HASHES[algorithm.name],
        _CERT_STATUS[status.status],
        this_update,
        next_update,
        status.revoked_at,
        status.reason,
    )
    draft_key, draft_certificate, draft_id = _draft_signer()
    draft = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, draft_certificate).sign(
        draft_key, None
    )
    tbs = _with_responder_id(draft.tbs_response_bytes, draft_id, signer.responder_id)
    signature = signer.key.sign(tbs)
    basic = sequence(
        tbs,
        SHA256_WITH_RSA_ALGORITHM,
        bit_string(signature),
        tagged(0, sequence(signer.certificate.public_bytes(serialization.Encoding.DER))),
    )
    der = sequence(_SUCCESSFUL, tagged(0, sequence(oid(_BASIC_RESPONSE_OID), octet_string(basic))))
    response = ocsp.load_der_ocsp_response(der)
    if response.tbs_response_bytes != tbs or response.certificates != [signer.certificate]:
        raise KeyBackendError("tbs_mismatch", "the signed OCSP response differs from the one built")
    try:
        _rsa_public(signer.certificate).verify(
            response.signature, tbs, padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature:
        raise KeyBackendError(
            "signature_invalid",
            "the OCSP responder key produced a signature that does not verify",
        ) from None
    return der


@functools.cache
def error_response(status: ocsp.OCSPResponseStatus) -> bytes:
    """An unsigned OCSP response carrying only an error status (malformedRequest, unauthorized…)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def find_signer(signers: Sequence[OcspSigner], certificate_id: CertificateId) -> OcspSigner | None:
    return next((s for s in signers if s.serves(certificate_id)), None)


StatusLookup = Callable[[OcspSigner, int], CertificateStatus]


def respond(
    data: bytes,
    signers: Sequence[OcspSigner],
    lookup: StatusLookup,
    *,
    now: dt.datetime,
    validity: dt.timedelta,
) -> bytes:
    """Answer one DER request by signing on the spot (the un-cached path).

    ``malformedRequest`` for what cannot be read, ``unauthorized`` for a CA we do not serve;
    otherwise ``lookup`` decides the status, and it must say ``UNKNOWN`` for serials the CA
    never issued: a responder never answers "good" for a certificate it does not know.
    """
    try:
        certificate_id = parse_request(data)
    except OcspRequestError:
        return error_response(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
    signer = find_signer(signers, certificate_id)
    if signer is None:
        return error_response(ocsp.OCSPResponseStatus.UNAUTHORIZED)
    status = lookup(signer, certificate_id.serial)
    return sign_response(
        signer, certificate_id.serial, status, now, now + validity, certificate_id.algorithm
    )
