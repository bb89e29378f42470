"""Linting of a to-be-signed certificate: our SEGUR rules, then pkilint's RFC 5280 linter.

Both run on the copy signed by the throw-away key; only a certificate with no error may be
recorded and signed. Warnings are kept with the prepared certificate.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sceau.pki.clock import add_years
from sceau.pki.errors import LintError
from sceau.pki.issuance.models import IssuanceRequest, IssuerContext, PreparedCertificate
from sceau.pki.names import INSI_COMMON_NAMES
from sceau.pki.profiles import (
    ALLOWED_KEY_SIZES,
    PRODUCT_CATEGORY_OID,
    VALIDITY_YEARS,
    product_category_extension,
)

_SUBJECT_ORDER = (
    NameOID.COUNTRY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COMMON_NAME,
)
_UTF8 = x509.name._ASN1Type.UTF8String
_PRINTABLE = x509.name._ASN1Type.PrintableString


def segur_findings(
    cert: x509.Certificate, request: IssuanceRequest, issuer: IssuerContext
) -> list[str]:
    """Errors against the IGC-Santé ORG/SERV profile (domain.md §2)."""
    errors: list[str] = []
    rdns = list(cert.subject.rdns)
    if [len(r) for r in rdns] != [1] * 5:
        errors.append("subject: exactly five single-valued RDNs expected")
    oids = tuple(next(iter(r)).oid for r in rdns)
    if oids != _SUBJECT_ORDER:
        errors.append("subject: RDN order must be C, ST, O, OU, CN")
    for rdn in rdns:
        attribute = next(iter(rdn))
        expected = _PRINTABLE if attribute.oid == NameOID.COUNTRY_NAME else _UTF8
        if attribute._type != expected:
            errors.append(f"subject: {attribute.oid._name} must be {expected.name}")
    if cert.subject != request.subject.to_name():
        errors.append("subject: differs from the registry data")
    cn = request.subject.common_name
    if request.insi and cn not in INSI_COMMON_NAMES:
        errors.append("INSi: CN must be INSI-AUTO or INSI-MANU")
    if cert.not_valid_after_utc != add_years(cert.not_valid_before_utc, VALIDITY_YEARS):
        errors.append("validity: must be exactly three years")
    serial_bytes = (cert.serial_number.bit_length() + 7) // 8
    if serial_bytes != 16 or cert.serial_number >> 127:
        errors.append("serial: 16 bytes with the high bit clear expected")
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size not in ALLOWED_KEY_SIZES:
        errors.append("key: RSA 2048, 3072 or 4096 expected")
    if cert.issuer != issuer.certificate.subject:
        errors.append("issuer: must be the issuing CA's subject")
    profile = request.profile
    extensions = cert.extensions
    try:
        ku = extensions.get_extension_for_class(x509.KeyUsage)
        if not ku.critical or ku.value != profile.key_usage:
            errors.append("keyUsage: must be critical and match the profile")
    except x509.ExtensionNotFound:
        errors.append("keyUsage: missing")
    try:
        eku = extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        if list(eku.value) != list(profile.extended_key_usages):
            errors.append("extKeyUsage: does not match the profile")
    except x509.ExtensionNotFound:
        errors.append("extKeyUsage: missing")
    try:
        bc = extensions.get_extension_for_class(x509.BasicConstraints)
        if bc.value.ca:
            errors.append("basicConstraints: CA:FALSE expected")
    except x509.ExtensionNotFound:
        errors.append("basicConstraints: missing")
    has_pkup = any(isinstance(e.value, x509.PrivateKeyUsagePeriod) for e in extensions)
    if has_pkup != profile.private_key_usage_period:
        errors.append("privateKeyUsagePeriod: present only on SIGN")
    has_san = any(isinstance(e.value, x509.SubjectAlternativeName) for e in extensions)
    if has_san != profile.dns_names:
        errors.append("subjectAltName: present only on SERV SSL")
    try:
        aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
        if aki.value.key_identifier != issuer.key_identifier:
            errors.append("authorityKeyIdentifier: must match the issuer's subjectKeyIdentifier")
    except x509.ExtensionNotFound:
        errors.append("authorityKeyIdentifier: missing")
    try:
        category = extensions.get_extension_for_oid(PRODUCT_CATEGORY_OID)
        if category.value != product_category_extension(issuer.policy.product_category):
            errors.append("product category: wrong value for this hierarchy")
    except x509.ExtensionNotFound:
        errors.append("product category 1.2.250.1.71.1.2.5: missing")
    for required in (
        x509.CertificatePolicies,
        x509.CRLDistributionPoints,
        x509.AuthorityInformationAccess,
        x509.SubjectKeyIdentifier,
    ):
        if not any(isinstance(e.value, required) for e in extensions):
            errors.append(f"{required.__name__}: missing")
    return errors


def _with_planned_dispatch(container: Any) -> Any:
    """Give ``container`` (and its sub-containers) a traversal that decides once per node
    shape which of its validators can match, instead of asking every validator at every node.

    pkilint's ``ValidatorContainer`` asks each of its validators ``match(node)`` at each node
    of its subtree: about 7,000 calls per certificate, most of the lint's time. The first
    test of ``NodeVisitor.match`` (path, path pattern, class of the ASN.1 value) depends only
    on the node's path and value class, so it is computed once per (path, class) and reused:

    - a validator using ``NodeVisitor.match`` with neither predicate nor supertype is then
      decided entirely;
    - one with a predicate or supertype, or one whose ``match`` starts with
      ``super().match(node)`` (checked list below), is skipped where that first test fails and
      asked ``match(node)`` where it passes;
    - any other validator is asked at every node, as pkilint does.

    Validators run in the same order on the same nodes, so the findings are identical (a test
    compares them with pkilint's own traversal). Only this module's validator instance is
    changed, never pkilint's classes: tests using pkilint as the outside validator run it
    untouched.
    """
    import types

    from pkilint.document import NodeVisitor
    from pkilint.pkix.certificate.certificate_extension import ExtendedKeyUsageCriticalityValidator
    from pkilint.pkix.extension import ExtensionCriticalityValidator
    from pkilint.validation import TypeMatchingValidator, ValidatorContainer

    # ``match`` methods that begin with ``if not super().match(node): return False``.
    narrowing = {
        ExtensionCriticalityValidator.match,
        TypeMatchingValidator.match,
        ExtendedKeyUsageCriticalityValidator.match,
    }
    ALWAYS, STATIC_THEN_ASK, DECIDED = 0, 1, 2

    def kind(validator: Any) -> int:
        method = type(validator).match
        if method is NodeVisitor.match:
            plain = validator._predicate is None and validator._pdu_supertype is None
            return DECIDED if plain else STATIC_THEN_ASK
        return STATIC_THEN_ASK if method in narrowing else ALWAYS

    def static_part(validator: Any, node: Any) -> bool:
        if validator._path is not None and validator._path != node.path:
            return False
        if validator._path_re is not None and validator._path_re.match(node.path) is None:
            return False
        return validator._pdu_class is None or isinstance(node.pdu, validator._pdu_class)

    def install(box: Any) -> None:
        kinds = [(validator, kind(validator)) for validator in box.validators]
        plans: dict[tuple[str, type], tuple[tuple[Any, bool], ...]] = {}

        def _validate_rec(self: Any, node: Any, results: list[Any]) -> None:
            key = (node.path, type(node.pdu))
            plan = plans.get(key)
            if plan is None:  # (validator, whether to ask it) for this node shape
                plan = tuple(
                    (validator, how != DECIDED)
                    for validator, how in kinds
                    if how == ALWAYS or static_part(validator, node)
                )
                plans[key] = plan
            for validator, ask in plan:
                if not ask or validator.match(node):
                    result = validator.validate_wrapper(node)
                    if isinstance(result, list):
                        results += result
                    else:
                        results.append(result)
            for child in node.children.values():
                self._validate_rec(child, results)

        box._validate_rec = types.MethodType(_validate_rec, box)
        for validator in box.validators:
            if isinstance(validator, ValidatorContainer):
                install(validator)

    install(container)
    return container


@functools.cache
def _pkix_validator() -> Any:
    return _with_planned_dispatch(_pkilint_validator())


def _pkilint_validator() -> Any:
    """pkilint's RFC 5280 certificate validator, as ``lint_pkix_cert`` builds it."""
    from pkilint.pkix import certificate, extension, name

    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


def pkix_findings(der: bytes) -> tuple[list[str], list[str]]:
    """Run pkilint's RFC 5280 certificate linter (as ``lint_pkix_cert``): (errors, warnings)."""
    from pkilint import loader
    from pkilint.validation import ValidationFindingSeverity

    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der, "certificate")
    errors: list[str] = []
    warnings: list[str] = []
    for result in _pkix_validator().validate(document.root):
        for description in result.finding_descriptions:
            finding = description.finding
            text = f"{finding.severity.name} {finding.code} at {result.node.path}"
            if description.message:
                text += f": {description.message}"
            if finding.severity <= ValidationFindingSeverity.ERROR:
                errors.append(text)
            elif finding.severity == ValidationFindingSeverity.WARNING:
                warnings.append(text)
    return errors, warnings


def lint_certificate(
    prepared: PreparedCertificate, issuer: IssuerContext, *, use_pkilint: bool = True
) -> PreparedCertificate:
    """Raise ``LintError`` on any error; return the prepared certificate with its warnings."""
    from cryptography.hazmat.primitives import serialization

    errors = segur_findings(prepared.lint_copy, prepared.request, issuer)
    warnings: list[str] = []
    if use_pkilint:
        pkix_errors, warnings = pkix_findings(
            prepared.lint_copy.public_bytes(serialization.Encoding.DER)
        )
        errors += pkix_errors
    if errors:
        raise LintError(errors)
    return PreparedCertificate(
        serial=prepared.serial,
        tbs=prepared.tbs,
        not_before=prepared.not_before,
        not_after=prepared.not_after,
        request=prepared.request,
        lint_copy=prepared.lint_copy,
        warnings=tuple(warnings),
    )
