"""``sceau client check``: is this certificate fit for the pharmacy software that will use it?

Works on an installed slot, a release folder, or any PKCS#12/PEM/DER file, including
certificates issued by the real IGC-Santé (no ANS trust anchor is shipped: give them with
``--ca``). It checks what the INSi/DMP validators and the ANS signature service check
(domain.md §15): the file and its password, the key/certificate match, the PKCS#12 layout
(leaf first, readable algorithms), the chain up to a configured trust anchor, the profile
(key usages, DN layout, key size), the INSi CN rule, the days left and the revocation status
by OCSP or CRL. Each check gives a finding; the verdict is the worst of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sceau.client.files import Material, load_material
from sceau.client.install import P12_NAME, PASSWORD_NAME
from sceau.client.revocation import RevocationUnavailable, fetch_ca_issuer, revocation_status
from sceau.pki.names import INSI_COMMON_NAMES
from sceau.pki.profiles import PRODUCT_CATEGORY_OID, PROFILES, Usage

# Issuers INSi clients accept for an ORG AUTH_CLI (domain.md §3).
INSI_ISSUERS = (
    "AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
    "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
)
DN_ORDER = (
    NameOID.COUNTRY_NAME,
    NameOID.STATE_OR_PROVINCE_NAME,
    NameOID.ORGANIZATION_NAME,
    NameOID.ORGANIZATIONAL_UNIT_NAME,
    NameOID.COMMON_NAME,
)
WINDOWS_ITERATION_CAP = 600_000


class Level(IntEnum):
    OK = 0
    WARNING = 1
    ERROR = 2

    @property
    def label(self) -> str:
        return {0: "OK", 1: "ATTENTION", 2: "ÉCHEC"}[self.value]


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    message: str


@dataclass(frozen=True)
class CheckOptions:
    trust_anchors: tuple[x509.Certificate, ...] = ()
    passwords: tuple[bytes, ...] = ()
    key_path: Path | None = None
    usage: Usage | None = None  # expected usage; None: recognise it from the extensions
    insi: bool | None = None  # None: apply the INSi rule when the CN looks like INSi
    expected_issuer_cn: str | None = None
    warn_days: int = 30
    revocation: str = "auto"  # auto | ocsp | crl | none
    fetch_issuers: bool = True  # complete a missing chain from AIA caIssuers
    now: dt.datetime | None = None
    timeout: float = 10.0


@dataclass
class CheckReport:
    source: str
    certificate: x509.Certificate | None = None
    findings: list[Finding] = field(default_factory=list)
    usage: Usage | None = None

    def add(self, check: str, level: Level, message: str) -> None:
        self.findings.append(Finding(check, level, message))

    @property
    def verdict(self) -> Level:
        return max((f.level for f in self.findings), default=Level.OK)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level is not Level.OK]

    @property
    def days_left(self) -> int | None:
        if self.certificate is None:
            return None
        delta = self.certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)
        return delta.days


def resolve_source(path: Path, passwords: Sequence[bytes]) -> tuple[Path, tuple[bytes, ...]]:
    """An installed slot or release folder becomes its PKCS#12 file and stored password."""
    path = Path(path)
    if path.is_dir():
        release = path / "current" if (path / "current").exists() else path
        p12 = release / P12_NAME
        if not p12.exists():
            raise FileNotFoundError(f"{path}: ni emplacement installé ni dossier de version")
        stored = release / PASSWORD_NAME
        if stored.exists():
            passwords = (stored.read_bytes().strip(), *passwords)
        return p12, tuple(passwords)
    return path, tuple(passwords)


def check_certificate(path: Path, options: CheckOptions | None = None) -> CheckReport:
    options = options or CheckOptions()
    now = options.now or dt.datetime.now(dt.UTC)
    report = CheckReport(str(path))
    try:
        source, passwords = resolve_source(path, options.passwords)
        material = load_material(source, passwords, options.key_path)
    except (OSError, ValueError) as exc:
        report.add("fichier", Level.ERROR, f"lecture impossible: {exc}")
        return report
    except Exception as exc:  # SceauError: password, format
        report.add("fichier", Level.ERROR, str(exc))
        return report
    report.certificate = material.certificate
    _check_file(report, material)
    chain = _check_chain(report, material, options, now)
    _check_profile(report, material, options)
    _check_insi(report, material.certificate, options)
    _check_dates(report, material.certificate, options, now)
    _check_revocation(report, material.certificate, chain, options, now)
    return report


def _check_file(report: CheckReport, material: Material) -> None:
    certificate = material.certificate
    report.add(
        "fichier",
        Level.OK,
        f"{material.format.upper()} lu: {certificate.subject.rfc4514_string()}, "
        f"série {certificate.serial_number:032x}",
    )
    if material.key is not None:
        if material.key.public_key() != certificate.public_key():
            report.add("clé", Level.ERROR, "la clé privée ne correspond pas au certificat")
        else:
            report.add("clé", Level.OK, "la clé privée correspond au certificat")
    elif material.format == "pkcs12":
        report.add("clé", Level.ERROR, "le PKCS#12 ne contient pas de clé privée")
    layout = material.layout
    if layout is None:
        return
    if layout.leaf_first is False:
        report.add(
            "pkcs12",
            Level.ERROR,
            "le certificat feuille n'est pas le premier du PKCS#12: les logiciels prennent le "
            "premier certificat comme « le » certificat",
        )
    if layout.uses_rc2:
        report.add(
            "pkcs12",
            Level.ERROR,
            "chiffrement RC2 (ancien défaut OpenSSL, -legacy): illisible par OpenSSL 3 et "
            "Node ≥ 17; réexporter au format ANS (3DES, MAC SHA-1)",
        )
    elif layout.key_algorithm == "pbes2-aes" or layout.mac == "sha256":
        report.add(
            "pkcs12",
            Level.WARNING,
            "format moderne AES/PBKDF2 + MAC SHA-256: illisible par Windows Server ≤ 2016, "
            "Java < 8u301 et le trousseau macOS",
        )
    else:
        report.add("pkcs12", Level.OK, "format ANS: clé 3DES, MAC SHA-1, feuille en premier")
    if layout.mac_iterations and layout.mac_iterations > WINDOWS_ITERATION_CAP:
        report.add(
            "pkcs12",
            Level.ERROR,
            f"{layout.mac_iterations} itérations: au-delà de la limite Windows (600 000)",
        )


def _is_anchor(certificate: x509.Certificate, anchors: Sequence[x509.Certificate]) -> bool:
    return any(
        a == certificate
        or (a.subject == certificate.subject and a.public_key() == certificate.public_key())
        for a in anchors
    )


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_chain(
    report: CheckReport, material: Material, options: CheckOptions, now: dt.datetime
) -> list[x509.Certificate]:
    """Build leaf → … → anchor; returns the path (leaf first), even when it is not trusted."""
    anchors = list(options.trust_anchors)
    pool = [*material.others, *anchors]
    path = [material.certificate]
    current = material.certificate
    trusted = _is_anchor(current, anchors)
    while not trusted and len(path) < 8:
        issuer = next(
            (c for c in pool if c.subject == current.issuer and _issued_by(current, c)), None
        )
        if issuer is None and options.fetch_issuers and current.subject != current.issuer:
            fetched = fetch_ca_issuer(current, options.timeout)
            pool.extend(fetched)
            issuer = next(
                (c for c in fetched if c.subject == current.issuer and _issued_by(current, c)), None
            )
        if issuer is None:
            break
        path.append(issuer)
        trusted = _is_anchor(issuer, anchors)
        if issuer.subject == issuer.issuer:
            break
        current = issuer
    for ca in path[1:]:
        constraints = _extension(ca, x509.BasicConstraints)
        if not isinstance(constraints, x509.BasicConstraints) or not constraints.ca:
            report.add("chaîne", Level.ERROR, f"{_cn(ca)} n'est pas une AC (basicConstraints)")
        if not ca.not_valid_before_utc <= now <= ca.not_valid_after_utc:
            report.add("chaîne", Level.ERROR, f"l'AC {_cn(ca)} n'est pas en cours de validité")
    issuer_cn = _cn_of_name(material.certificate.issuer)
    if options.expected_issuer_cn and issuer_cn != options.expected_issuer_cn:
        report.add(
            "chaîne",
            Level.ERROR,
            f"émetteur {issuer_cn!r} inattendu: {options.expected_issuer_cn!r} attendu",
        )
    if trusted:
        names = " → ".join(_cn(c) for c in path)
        report.add("chaîne", Level.OK, f"chaîne vérifiée jusqu'à une ancre de confiance: {names}")
    elif not anchors:
        root = path[-1]
        complete = root.subject == root.issuer and _issued_by(root, root)
        report.add(
            "chaîne",
            Level.WARNING,
            "aucune ancre de confiance configurée (--ca): chaîne "
            + ("complète mais non épinglée" if complete else "incomplète")
            + f", émetteur {issuer_cn!r}",
        )
    else:
        missing = _cn_of_name(path[-1].issuer)
        report.add(
            "chaîne",
            Level.ERROR,
            f"chaîne non reconnue: le certificat ne remonte à aucune AC de confiance "
            f"(émetteur {issuer_cn!r}, dernier maillon {_cn(path[-1])!r} émis par {missing!r})",
        )
    return path


def _extension(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> object | None:
    try:
        return certificate.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _cn_of_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def _cn(certificate: x509.Certificate) -> str:
    return _cn_of_name(certificate.subject)


def recognise_usage(certificate: x509.Certificate) -> Usage | None:
    key_usage = _extension(certificate, x509.KeyUsage)
    eku = _extension(certificate, x509.ExtendedKeyUsage)
    ekus = tuple(eku) if isinstance(eku, x509.ExtendedKeyUsage) else ()
    for usage, profile in PROFILES.items():
        if key_usage == profile.key_usage and set(ekus) == set(profile.extended_key_usages):
            return usage
    return None


def _check_profile(report: CheckReport, material: Material, options: CheckOptions) -> None:
    certificate = material.certificate
    usage = recognise_usage(certificate)
    report.usage = usage
    if usage is None:
        report.add(
            "profil",
            Level.ERROR,
            "usages de clé non conformes à un gabarit ORG/SERV IGC-Santé "
            "(AUTH_CLI, SIGN, CONF ou SERV SSL)",
        )
    elif options.usage is not None and usage is not options.usage:
        report.add(
            "profil",
            Level.ERROR,
            f"certificat {usage.value}, alors que {options.usage.value} est attendu",
        )
    else:
        report.add("profil", Level.OK, f"gabarit ORG/SERV {usage.value}")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        report.add("profil", Level.ERROR, "clé publique: RSA d'au moins 2048 bits attendue")
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None or algorithm.name not in ("sha256", "sha384", "sha512"):
        report.add("profil", Level.ERROR, "signature: SHA-256 (ou plus fort) attendu")
    constraints = _extension(certificate, x509.BasicConstraints)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        report.add("profil", Level.ERROR, "c'est un certificat d'AC, pas un certificat ORG")
    order = [attribute.oid for rdn in certificate.subject.rdns for attribute in rdn]
    if order != list(DN_ORDER):
        report.add(
            "profil",
            Level.WARNING,
            "DN hors du format IGC-Santé C, ST, O, OU=<IDNST>, CN: "
            + certificate.subject.rfc4514_string(),
        )
    if not any(e.oid == PRODUCT_CATEGORY_OID for e in certificate.extensions):
        report.add("profil", Level.WARNING, "extension ANS « catégorie de produit » absente")


def _check_insi(report: CheckReport, certificate: x509.Certificate, options: CheckOptions) -> None:
    common_name = _cn(certificate)
    folded = common_name.strip().upper().replace(" ", "-").replace("_", "-")
    applies = options.insi if options.insi is not None else folded in INSI_COMMON_NAMES
    if not applies:
        return
    if common_name not in INSI_COMMON_NAMES:
        hint = f" (écrire {folded})" if folded in INSI_COMMON_NAMES else ""
        report.add(
            "insi",
            Level.ERROR,
            f"CN {common_name!r} refusé par l'INSi: exactement INSI-AUTO ou INSI-MANU{hint}; "
            "sinon le téléservice répond DESIR_560",
        )
    else:
        report.add("insi", Level.OK, f"CN {common_name} conforme à l'INSi")
    if report.usage is not None and report.usage is not Usage.AUTH_CLI:
        report.add("insi", Level.ERROR, "l'INSi exige un certificat ORG AUTH_CLI")
    issuer = _cn_of_name(certificate.issuer)
    if options.expected_issuer_cn is None and issuer not in INSI_ISSUERS:
        report.add(
            "insi",
            Level.ERROR,
            f"émetteur {issuer!r}: l'INSi attend (TEST) AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
        )


def _check_dates(
    report: CheckReport, certificate: x509.Certificate, options: CheckOptions, now: dt.datetime
) -> None:
    not_after = certificate.not_valid_after_utc
    if now < certificate.not_valid_before_utc:
        report.add(
            "validité",
            Level.ERROR,
            f"pas encore valide (à partir du {certificate.not_valid_before_utc:%d/%m/%Y})",
        )
        return
    if now >= not_after:
        report.add(
            "validité",
            Level.ERROR,
            f"expiré depuis le {not_after:%d/%m/%Y}: un renouvellement n'est plus possible, "
            "demander un nouveau certificat",
        )
        return
    days = (not_after - now).days
    level = Level.WARNING if days < options.warn_days else Level.OK
    report.add("validité", level, f"{days} jours restants (expire le {not_after:%d/%m/%Y})")


def _check_revocation(
    report: CheckReport,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    options: CheckOptions,
    now: dt.datetime,
) -> None:
    if options.revocation == "none":
        return
    if len(chain) < 2:
        report.add("révocation", Level.WARNING, "statut non vérifiable: AC émettrice inconnue")
        return
    try:
        answer = revocation_status(
            certificate, chain[1], method=options.revocation, now=now, timeout=options.timeout
        )
    except RevocationUnavailable as exc:
        report.add("révocation", Level.WARNING, f"statut de révocation inconnu: {exc}")
        return
    method = answer.method.upper()
    if answer.status == "revoked":
        when = f" le {answer.revoked_at:%d/%m/%Y %H:%M} UTC" if answer.revoked_at else ""
        reason = f" (motif {answer.reason})" if answer.reason else ""
        report.add(
            "révocation", Level.ERROR, f"RÉVOQUÉ{when}{reason} selon {method} {answer.source}"
        )
    elif answer.status == "good":
        report.add("révocation", Level.OK, f"non révoqué selon {method} {answer.source}")
    else:
        report.add(
            "révocation", Level.ERROR, f"{method} {answer.source}: certificat inconnu de l'AC"
        )


def load_anchors(paths: Sequence[Path]) -> tuple[x509.Certificate, ...]:
    """Trust anchors from PEM bundles, DER files or folders of them."""
    anchors: list[x509.Certificate] = []
    for path in paths:
        files = (
            sorted(p for p in Path(path).rglob("*") if p.is_file())
            if Path(path).is_dir()
            else [Path(path)]
        )
        for file in files:
            data = file.read_bytes()
            if b"-----BEGIN CERTIFICATE-----" in data:
                anchors.extend(x509.load_pem_x509_certificates(data))
            else:
                try:
                    anchors.append(x509.load_der_x509_certificate(data))
                except ValueError:
                    continue
    return tuple(anchors)
