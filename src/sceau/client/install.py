"""Install a certificate where pharmacy software reads it, atomically, keeping the previous one.

Layout of a *slot* (one certificate role, e.g. ``insi-auto`` or ``dmp-sign``)::

    <target>/<slot>/releases/<YYYYMMDDTHHMMSSZ>-<serial>/  key.pem cert.pem chain.pem
                                                           fullchain.pem certificate.p12
                                                           certificate.p12.password meta.json
    <target>/<slot>/current  -> releases/<...>      (the one software reads)
    <target>/<slot>/previous -> releases/<...>      (for rollback)

A release folder is written completely, then ``current`` is switched by renaming a symlink
(atomic on POSIX), so a reader sees the old set or the new set, never a mix of a new
certificate and an old key. Folders are 0700 and files 0600. The PKCS#12 uses the ANS
layout (leaf first, certificates in clear, 3DES key, SHA-1 MAC; domain.md §15) so OpenSSL 3,
old Java, Windows and macOS read it. Only ``current`` and ``previous`` are kept: a renewal
that replaces the old certificate removes any older release, which avoids the "two
certificates with the same subject" ambiguity of §15.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sceau.client.keys import key_to_pem, write_private
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.pkcs12 import ans_legacy_pkcs12, modern_pkcs12

P12_NAME = "certificate.p12"
PASSWORD_NAME = "certificate.p12.password"  # noqa: S105 - a file name, not a secret
META_NAME = "meta.json"


@dataclass(frozen=True)
class Installed:
    slot: Path
    release: Path
    previous: Path | None

    @property
    def p12(self) -> Path:
        return self.slot / "current" / P12_NAME


def _pem(certificates: Sequence[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _mkdir_private(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def install_certificate(
    target: Path,
    slot: str,
    key: rsa.RSAPrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    password: bytes | None = None,
    modern: bool = False,
    metadata: dict[str, Any] | None = None,
) -> Installed:
    """Write key + chain as PEM and PKCS#12 into a new release and make it ``current``."""
    if key.public_key() != certificate.public_key():
        raise SceauError(
            "install_key_mismatch",
            "la clé privée ne correspond pas au certificat: installation refusée",
        )
    if not slot or "/" in slot or slot.startswith("."):
        raise SceauError("install_slot", f"nom d'emplacement {slot!r} invalide")
    slot_dir = Path(target) / slot
    releases = slot_dir / "releases"
    for folder in (Path(target), slot_dir, releases):
        _mkdir_private(folder)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    serial = format(certificate.serial_number, "032x")
    name = f"{stamp}-{serial}"
    staging = releases / f".staging-{name}"
    _mkdir_private(staging)
    try:
        p12_password = password or secrets.token_urlsafe(18).encode()
        writer = modern_pkcs12 if modern else ans_legacy_pkcs12
        ordered = [c for c in chain if c != certificate]
        write_private(staging / "key.pem", key_to_pem(key))
        write_private(staging / "cert.pem", _pem([certificate]))
        write_private(staging / "chain.pem", _pem(ordered))
        write_private(staging / "fullchain.pem", _pem([certificate, *ordered]))
        write_private(staging / P12_NAME, writer(key, certificate, ordered, p12_password))
        write_private(staging / PASSWORD_NAME, p12_password + b"\n")
        meta = {
            "serial": serial,
            "subject": certificate.subject.rfc4514_string(),
            "not_before": certificate.not_valid_before_utc.isoformat(),
            "not_after": certificate.not_valid_after_utc.isoformat(),
            "installed_at": dt.datetime.now(dt.UTC).isoformat(),
            "pkcs12_layout": "modern" if modern else "ans-legacy",
            **(metadata or {}),
        }
        write_private(staging / META_NAME, json.dumps(meta, indent=2, ensure_ascii=False).encode())
        release = releases / name
        os.rename(staging, release)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = _switch(slot_dir, release)
    _prune(slot_dir)
    return Installed(slot_dir, release, previous)


def _link_target(link: Path) -> Path | None:
    if not link.is_symlink():
        return None
    return (link.parent / os.readlink(link)).resolve()


def _point(link: Path, release: Path) -> None:
    temporary = link.with_name(f".{link.name}.{secrets.token_hex(4)}")
    os.symlink(os.path.relpath(release, link.parent), temporary)
    os.replace(temporary, link)


def _switch(slot_dir: Path, release: Path) -> Path | None:
    current = _link_target(slot_dir / "current")
    if current is not None and current != release.resolve():
        _point(slot_dir / "previous", current)
    _point(slot_dir / "current", release)
    _fsync_dir(slot_dir)
    return current


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _prune(slot_dir: Path) -> None:
    keep = {_link_target(slot_dir / "current"), _link_target(slot_dir / "previous")}
    for release in (slot_dir / "releases").iterdir():
        if release.resolve() not in keep:
            shutil.rmtree(release, ignore_errors=True)


def rollback(target: Path, slot: str) -> Path:
    """Make ``previous`` current again (and the faulty one previous); returns the release."""
    slot_dir = Path(target) / slot
    previous = _link_target(slot_dir / "previous")
    current = _link_target(slot_dir / "current")
    if previous is None or not previous.exists():
        raise SceauError(
            "no_previous_certificate",
            f"aucun certificat précédent à restaurer dans {slot_dir}",
            ErrorKind.NOT_FOUND,
        )
    _point(slot_dir / "current", previous)
    if current is not None:
        _point(slot_dir / "previous", current)
    _fsync_dir(slot_dir)
    return previous


def current_release(target: Path, slot: str) -> Path | None:
    return _link_target(Path(target) / slot / "current")


def read_metadata(release: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((release / META_NAME).read_text())
    return data


def slots(target: Path) -> list[str]:
    base = Path(target)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if (p / "current").is_symlink())
