"""Revocation status as a relying party sees it: OCSP first (AIA), then the CRL (CRL DP).

Only HTTP URLs are used (delta CRLs are published over LDAP only, domain.md §15). Every
answer is authenticated before it is believed: an OCSP response must be signed by the issuer
or by a responder certificate the issuer delegated (id-kp-OCSPSigning), a CRL by the issuer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID

CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class RevocationAnswer:
    """``status`` is good, revoked or unknown; ``source`` says which URL answered."""

    status: str
    source: str
    method: str  # "ocsp" | "crl"
    revoked_at: dt.datetime | None = None
    reason: str | None = None


class RevocationUnavailable(Exception):
    """No trustworthy answer could be obtained (network, signature, freshness)."""


def _extension(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> object | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def ocsp_urls(certificate: x509.Certificate) -> list[str]:
    aia = _extension(certificate, x509.AuthorityInformationAccess)
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return []
    return [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.OCSP
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and str(d.access_location.value).lower().startswith(("http://", "https://"))
    ]


def ca_issuer_urls(certificate: x509.Certificate) -> list[str]:
    aia = _extension(certificate, x509.AuthorityInformationAccess)
    if not isinstance(aia, x509.AuthorityInformationAccess):
        return []
    return [
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
        and str(d.access_location.value).lower().startswith(("http://", "https://"))
    ]


def crl_urls(certificate: x509.Certificate) -> list[str]:
    points = _extension(certificate, x509.CRLDistributionPoints)
    if not isinstance(points, x509.CRLDistributionPoints):
        return []
    urls = []
    for point in points:
        for name in point.full_name or []:
            value = str(name.value)
            if isinstance(name, x509.UniformResourceIdentifier) and value.lower().startswith(
                ("http://", "https://")
            ):
                urls.append(value)
    return urls


def _verify_signature(
    public_key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm | None
) -> bool:
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm is not None:
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm is not None:
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def _ocsp_signer(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> x509.Certificate:
    """The certificate that signed ``response``: the issuer itself or a delegated responder."""
    candidates = [issuer, *response.certificates]
    for candidate in candidates:
        if response.responder_name is not None and candidate.subject != response.responder_name:
            continue
        if response.responder_key_hash is not None:
            key_hash = x509.SubjectKeyIdentifier.from_public_key(candidate.public_key()).digest
            if key_hash != response.responder_key_hash:
                continue
        if candidate == issuer:
            return candidate
        try:
            candidate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            continue
        eku = _extension(candidate, x509.ExtendedKeyUsage)
        if isinstance(eku, x509.ExtendedKeyUsage) and ExtendedKeyUsageOID.OCSP_SIGNING in eku:
            return candidate
    raise RevocationUnavailable("réponse OCSP signée par un répondeur non autorisé par l'AC")


def check_ocsp(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    url: str,
    *,
    now: dt.datetime,
    timeout: float = 10.0,
) -> RevocationAnswer:
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate(certificate, issuer, hashes.SHA1())  # noqa: S303  # RFC 5019 CertID
        .build()
        .public_bytes(serialization.Encoding.DER)
    )
    try:
        reply = httpx.post(
            url,
            content=request,
            headers={"Content-Type": "application/ocsp-request"},
            timeout=timeout,
        )
    except httpx.HTTPError as exc:
        raise RevocationUnavailable(f"répondeur OCSP {url} injoignable ({exc})") from exc
    if reply.status_code != 200:
        raise RevocationUnavailable(f"répondeur OCSP {url}: HTTP {reply.status_code}")
    try:
        response = ocsp.load_der_ocsp_response(reply.content)
    except ValueError as exc:
        raise RevocationUnavailable(f"réponse OCSP illisible de {url}") from exc
    if response.response_status != ocsp.OCSPResponseStatus.SUCCESSFUL:
        raise RevocationUnavailable(f"répondeur OCSP {url}: {response.response_status.name}")
    signer = _ocsp_signer(response, issuer)
    if not _verify_signature(
        signer.public_key(),
        response.signature,
        response.tbs_response_bytes,
        response.signature_hash_algorithm,
    ):
        raise RevocationUnavailable(f"signature de la réponse OCSP de {url} invalide")
    for single in response.responses:
        if single.serial_number != certificate.serial_number:
            continue
        if single.this_update_utc > now + CLOCK_SKEW:
            raise RevocationUnavailable("réponse OCSP datée du futur")
        if single.next_update_utc is not None and single.next_update_utc < now - CLOCK_SKEW:
            raise RevocationUnavailable("réponse OCSP périmée (nextUpdate dépassé)")
        status = single.certificate_status
        if status == ocsp.OCSPCertStatus.REVOKED:
            reason = single.revocation_reason.value if single.revocation_reason else None
            return RevocationAnswer("revoked", url, "ocsp", single.revocation_time_utc, reason)
        if status == ocsp.OCSPCertStatus.GOOD:
            return RevocationAnswer("good", url, "ocsp")
        return RevocationAnswer("unknown", url, "ocsp")
    raise RevocationUnavailable("la réponse OCSP ne porte pas sur ce certificat")


def check_crl(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    url: str,
    *,
    now: dt.datetime,
    timeout: float = 10.0,
) -> RevocationAnswer:
    try:
        reply = httpx.get(url, timeout=timeout, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RevocationUnavailable(f"CRL {url} injoignable ({exc})") from exc
    if reply.status_code != 200:
        raise RevocationUnavailable(f"CRL {url}: HTTP {reply.status_code}")
    try:
        data = reply.content
        crl = (
            x509.load_pem_x509_crl(data)
            if data.lstrip().startswith(b"-----")
            else x509.load_der_x509_crl(data)
        )
    except ValueError as exc:
        raise RevocationUnavailable(f"CRL illisible à {url}") from exc
    if crl.issuer != issuer.subject or not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
        raise RevocationUnavailable(f"la CRL de {url} n'est pas signée par l'AC émettrice")
    if crl.next_update_utc is not None and crl.next_update_utc < now - CLOCK_SKEW:
        raise RevocationUnavailable(
            f"CRL de {url} périmée (nextUpdate {crl.next_update_utc:%d/%m/%Y})"
        )
    entry = crl.get_revoked_certificate_by_serial_number(certificate.serial_number)
    if entry is None:
        return RevocationAnswer("good", url, "crl")
    reason = None
    with contextlib.suppress(x509.ExtensionNotFound):
        reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    return RevocationAnswer("revoked", url, "crl", entry.revocation_date_utc, reason)


def revocation_status(
    certificate: x509.Certificate,
    issuer: x509.Certificate,
    *,
    method: str = "auto",
    now: dt.datetime,
    timeout: float = 10.0,
) -> RevocationAnswer:
    """Ask OCSP then the CRL (``auto``), or only one of them; raise when nobody answers."""
    problems: list[str] = []
    if method in ("auto", "ocsp"):
        for url in ocsp_urls(certificate):
            try:
                return check_ocsp(certificate, issuer, url, now=now, timeout=timeout)
            except RevocationUnavailable as exc:
                problems.append(str(exc))
    if method in ("auto", "crl"):
        for url in crl_urls(certificate):
            try:
                return check_crl(certificate, issuer, url, now=now, timeout=timeout)
            except RevocationUnavailable as exc:
                problems.append(str(exc))
    if not problems:
        problems.append("le certificat n'indique aucune URL OCSP ou CRL en HTTP")
    raise RevocationUnavailable("; ".join(problems))


def fetch_ca_issuer(certificate: x509.Certificate, timeout: float = 10.0) -> list[x509.Certificate]:
    """The issuer certificate(s) published at the AIA caIssuers URL (DER, PEM or PKCS#7)."""
    from cryptography.hazmat.primitives.serialization import pkcs7

    found: list[x509.Certificate] = []
    for url in ca_issuer_urls(certificate):
        try:
            reply = httpx.get(url, timeout=timeout, follow_redirects=True)
        except httpx.HTTPError:
            continue
        if reply.status_code != 200:
            continue
        data = reply.content
        for loader in (
            lambda d: [x509.load_der_x509_certificate(d)],
            x509.load_pem_x509_certificates,
            pkcs7.load_der_pkcs7_certificates,
        ):
            try:
                found.extend(loader(data))
                break
            except ValueError:
                continue
    return found
