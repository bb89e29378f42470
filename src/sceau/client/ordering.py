"""One structure's certificates, end to end: keys → CSRs → order → RETIRER → install.

Shared by ``sceau client order/fetch/install``, ``renew`` and the fleet. Keys are generated
and kept here; the server only ever sees CSRs.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.client.api import ApiError, SceauApi, decode_file
from sceau.client.csr import CsrRequest, build_csr
from sceau.client.install import Installed, install_certificate
from sceau.client.keys import load_key_pem
from sceau.pki.profiles import Usage

# ``--bundle`` words of the fleet and the order command → (server bundle, default CN).
BUNDLE_WORDS: dict[str, tuple[str, str]] = {
    "dmp": ("DMP", "DMP"),
    "insi-auto": ("INSI", "INSI-AUTO"),
    "insi-manu": ("INSI", "INSI-MANU"),
    "psc": ("PSC", "PSC"),
    "mssante-bal": ("MSSANTE_BAL", "MSSANTE"),
}


@dataclass(frozen=True)
class Item:
    """One order of a structure: a bundle word and the CN its certificates carry."""

    word: str
    bundle: str
    common_name: str

    @classmethod
    def parse(cls, text: str) -> Item:
        word, _, cn = text.strip().lower().partition("=")
        if word not in BUNDLE_WORDS:
            raise ValueError(f"usage métier {word!r} inconnu: {', '.join(BUNDLE_WORDS)}")
        bundle, default_cn = BUNDLE_WORDS[word]
        return cls(word, bundle, cn.strip() or default_cn)


def parse_items(text: str) -> list[Item]:
    return [Item.parse(part) for part in text.split(",") if part.strip()]


def products_of(bundles: list[dict[str, Any]], bundle: str) -> list[tuple[Usage, bool]]:
    for entry in bundles:
        if entry["name"] == bundle:
            return [(Usage(p["usage"]), bool(p["insi"])) for p in entry["products"]]
    raise ValueError(f"usage métier {bundle} inconnu du serveur")


def slot_for(item: Item, usage: Usage, count: int) -> str:
    return item.word if count == 1 else f"{item.word}-{usage.value.lower()}"


def csrs_for(
    keys: Sequence[bytes | rsa.RSAPrivateKey],
    products: list[tuple[Usage, bool]],
    common_name: str,
) -> list[bytes]:
    """One CSR per product; ``keys`` are PEM (loaded and checked) or key objects."""
    return [
        build_csr(_key(key), CsrRequest(usage, common_name, insi=insi))
        for key, (usage, insi) in zip(keys, products, strict=True)
    ]


def _key(key: bytes | rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    return load_key_pem(key) if isinstance(key, bytes) else key


def new_revocation_code() -> str:
    return "Rv-" + secrets.token_urlsafe(12)


@dataclass
class Fetched:
    serial: str
    certificate: x509.Certificate
    chain: list[x509.Certificate] = field(default_factory=list)


def fetched_from(retrieved: dict[str, Any]) -> Fetched:
    """The certificate and chain of one entry of a RETIRER answer (its PEM file)."""
    pem = next(decode_file(f) for f in retrieved["files"] if f["name"].endswith(".pem"))
    certificates = x509.load_pem_x509_certificates(pem)
    return Fetched(str(retrieved["serial"]), certificates[0], certificates[1:])


def fetch_certificate(api: SceauApi, serial: str, revocation_code: str | None) -> Fetched:
    """RETIRER (when a code is given) then the PEM chain; a second call just downloads."""
    pem: bytes | None = None
    if revocation_code is not None:
        try:
            retrieved = api.retrieve(serial, revocation_code)
            pem = next(decode_file(f) for f in retrieved["files"] if f["name"].endswith(".pem"))
        except ApiError as exc:
            if exc.code != "invalid_transition":  # already retrieved (a resumed run)
                raise
    if pem is None:
        pem = api.download(serial, "pem")
    certificates = x509.load_pem_x509_certificates(pem)
    return Fetched(serial, certificates[0], certificates[1:])


def install_fetched(
    target: Path,
    slot: str,
    key: bytes | rsa.RSAPrivateKey,
    fetched: Fetched,
    metadata: dict[str, Any],
    password: bytes | None = None,
) -> Installed:
    """Install ``fetched`` with ``key`` (PEM, loaded and checked, or a key object)."""
    return install_certificate(
        target,
        slot,
        _key(key),
        fetched.certificate,
        fetched.chain,
        password=password,
        metadata=metadata,
    )


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    from sceau.client.keys import write_private

    write_private(path, json.dumps(data, indent=2).encode())
