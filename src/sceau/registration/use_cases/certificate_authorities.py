"""The CA ceremony as a use case: create a TEST or PROD hierarchy, idempotently."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.hierarchy import (
    CaNaming,
    create_intermediate_certificate,
    create_root_certificate,
    ldap_url,
)
from sceau.pki.issuance.models import IssuerContext
from sceau.pki.profiles import (
    PRODUCT_CATEGORY_SOFTWARE,
    PRODUCT_CATEGORY_SOFTWARE_TEST,
    IssuerPolicy,
)
from sceau.registration.ports import Services

# (role, CN without "TEST ", file stem without "-TEST", short name of the range)
ROOT = ("root", "AC RACINE IGC-SANTE ELEMENTAIRE", "ACR-EL")
ORGANISATIONS = ("organisations", "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS", "ACI-EL-ORG")
PERSONS = ("persons", "AC IGC-SANTE FORT PERSONNES", "ACI-FO-PP")


@dataclass(frozen=True)
class PublicationSettings:
    """URLs and policy values a new hierarchy writes into its certificates."""

    base_url: str  # http://igc-sante.esante.gouv.fr or this server's public URL
    ocsp_url: str
    ldap_base_url: str | None
    policy_oid: str
    cps_uri: str
    key_size: int = 4096
    key_backend: str | None = None  # None: the keyring's default

    def crl_url(self, stem: str, *, delta: bool = False) -> str:
        return f"{self.base_url}/CRL/{stem}{'-delta' if delta else ''}.crl"

    def ca_issuers_url(self, stem: str, environment: str) -> str:
        folder = "AC%20TEST" if environment == "test" else "AC"
        return f"{self.base_url}/{folder}/{stem}.cer"


def ca_certificate_url_path(authority: Any) -> str:
    folder = "AC TEST" if authority.environment == "test" else "AC"
    return f"/{folder}/{authority.file_stem}.cer"


_ISSUER_CONTEXTS: dict[tuple[bytes, str], IssuerContext] = {}


def issuer_context(authority: Any) -> IssuerContext:
    """The issuing CA as the PKI core needs it (parsed once per process: CA rows never change)."""
    import json

    cache_key = (authority.certificate_der, json.dumps(authority.issuer_policy, sort_keys=True))
    cached = _ISSUER_CONTEXTS.get(cache_key)
    if cached is None:
        cached = _ISSUER_CONTEXTS.setdefault(cache_key, _issuer_context(authority))
    return cached


def _issuer_context(authority: Any) -> IssuerContext:
    if authority.issuer_policy is None:
        raise SceauError(
            "not_issuing_ca",
            f"{authority.slug} does not issue leaf certificates",
            ErrorKind.CONFLICT,
        )
    policy = dict(authority.issuer_policy)
    return IssuerContext(
        certificate=x509.load_der_x509_certificate(authority.certificate_der),
        policy=IssuerPolicy(
            policy_oid=policy["policy_oid"],
            cps_uri=policy["cps_uri"],
            crl_urls=tuple(policy["crl_urls"]),
            delta_crl_urls=tuple(policy["delta_crl_urls"]),
            ocsp_url=policy["ocsp_url"],
            ca_issuers_url=policy["ca_issuers_url"],
            product_category=int(policy["product_category"]),
        ),
    )


def _leaf_policy(
    naming: CaNaming, publication: PublicationSettings, stem: str, root_cn: str, ca_cn: str
) -> dict[str, Any]:
    crl_urls = [publication.crl_url(stem)]
    delta_urls = [publication.crl_url(stem, delta=True)]
    if publication.ldap_base_url:
        path = [
            f"cn={ca_cn}",
            f"ou={root_cn}",
            f"ou={naming.range_ou}",
            f"ou={naming.organisation_identifier}",
            f"o={naming.organisation}",
            "c=FR",
        ]
        crl_urls.append(ldap_url(publication.ldap_base_url, path, "certificaterevocationlist"))
        delta_urls.append(ldap_url(publication.ldap_base_url, path, "deltarevocationlist"))
    return {
        "policy_oid": publication.policy_oid,
        "cps_uri": publication.cps_uri,
        "crl_urls": crl_urls,
        "delta_crl_urls": delta_urls,
        "ocsp_url": publication.ocsp_url,
        "ca_issuers_url": publication.ca_issuers_url(stem, naming.environment),
        "product_category": PRODUCT_CATEGORY_SOFTWARE_TEST
        if naming.is_test
        else PRODUCT_CATEGORY_SOFTWARE,
    }


def create_hierarchy(
    services: Services, environment: str, publication: PublicationSettings, actor: str = "operator"
) -> list[Any]:
    """Create root, organisations CA and persons CA of ``environment``; existing CAs are kept.

    Idempotent: running it again creates nothing. Each CA is committed as soon as it exists,
    so an interrupted ceremony resumes where it stopped.
    """
    naming = CaNaming(environment)
    now = services.clock.now()
    created: list[Any] = []
    with services.unit_of_work() as uow:
        root = uow.authorities.by_role(environment, ROOT[0])
    if root is None:
        key = services.keyring.generate(
            f"{environment}-root", publication.key_size, backend=publication.key_backend
        )
        certificate = create_root_certificate(key, naming.name(ROOT[1]), now, publication.cps_uri)
        with services.unit_of_work() as uow:
            root = uow.authorities.create(
                slug=f"{environment}-root",
                environment=environment,
                role=ROOT[0],
                parent_id=None,
                certificate=certificate,
                key_reference=key.reference,
                file_stem=naming.file_stem(ROOT[2]),
                issuer_policy=None,
                created_at=now,
            )
            uow.audit.record(
                at=now, actor=actor, action="ca.create", outcome="success", target=root.slug
            )
            uow.commit()
        created.append(root)
    root_certificate = x509.load_der_x509_certificate(root.certificate_der)
    root_key = services.keyring.load(root.key_reference)
    root_crls = [publication.crl_url(root.file_stem)]
    if publication.ldap_base_url:
        root_crls.append(
            ldap_url(
                publication.ldap_base_url,
                [
                    f"CN={naming.common_name(ROOT[1])}",
                    f"OU={naming.range_ou}",
                    f"OU={naming.organisation_identifier}",
                    f"O={naming.organisation}",
                    "C=FR",
                ],
                "certificaterevocationlist",
            )
        )
    for role, base_cn, base_stem in (ORGANISATIONS, PERSONS):
        with services.unit_of_work() as uow:
            existing = uow.authorities.by_role(environment, role)
        if existing is not None:
            continue
        slug = f"{environment}-{role}"
        key = services.keyring.generate(slug, publication.key_size, backend=publication.key_backend)
        certificate = create_intermediate_certificate(
            key.public_key(),
            naming.name(base_cn),
            root_certificate,
            root_key,
            now,
            publication.cps_uri,
            tuple(root_crls),
        )
        stem = naming.file_stem(base_stem)
        policy = _leaf_policy(
            naming, publication, stem, naming.common_name(ROOT[1]), naming.common_name(base_cn)
        )
        with services.unit_of_work() as uow:
            authority = uow.authorities.create(
                slug=slug,
                environment=environment,
                role=role,
                parent_id=root.id,
                certificate=certificate,
                key_reference=key.reference,
                file_stem=stem,
                issuer_policy=policy,
                created_at=now,
            )
            uow.audit.record(
                at=now, actor=actor, action="ca.create", outcome="success", target=slug
            )
            uow.commit()
        created.append(authority)
    return created
