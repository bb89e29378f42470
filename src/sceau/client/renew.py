"""``sceau client renew``: renew an installed certificate when it enters its renewal window.

Safe for a daily (or twice-daily) timer: outside the window it does nothing; inside, the new
key is written to ``<slot>/.renewal/`` *before* anything is sent, the renewal is ordered
with an idempotency key derived from the old serial, so a run interrupted at any point and
started again reuses the same key and the same order, and never orders twice. Renewal is
only possible while the certificate is valid (domain.md §14): an expired one is reported.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from sceau.client.api import SceauApi
from sceau.client.check import recognise_usage
from sceau.client.csr import CsrRequest, build_csr
from sceau.client.install import current_release, read_metadata
from sceau.client.keys import generate_key, key_to_pem, load_key_pem, write_private
from sceau.client.ordering import fetch_certificate, install_fetched, new_revocation_code
from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.names import INSI_COMMON_NAMES, common_name_of

DEFAULT_WINDOW_DAYS = 30


@dataclass(frozen=True)
class RenewOutcome:
    slot: str
    action: str  # nothing | renewed | expired
    old_serial: str
    new_serial: str | None
    days_left: int


def renew_slot(
    api: SceauApi,
    target: Path,
    slot: str,
    *,
    actor_email: str,
    window_days: int = DEFAULT_WINDOW_DAYS,
    now: dt.datetime | None = None,
    force: bool = False,
) -> RenewOutcome:
    moment = now or dt.datetime.now(dt.UTC)
    slot_dir = Path(target) / slot
    release = current_release(target, slot)
    if release is None:
        raise SceauError(
            "not_installed", f"{slot_dir}: aucun certificat installé", ErrorKind.NOT_FOUND
        )
    certificate = x509.load_pem_x509_certificate((release / "cert.pem").read_bytes())
    meta = read_metadata(release)
    old_serial = format(certificate.serial_number, "032x")
    days_left = (certificate.not_valid_after_utc - moment).days
    if certificate.not_valid_after_utc <= moment:
        return RenewOutcome(slot, "expired", old_serial, None, days_left)
    if days_left > window_days and not force:
        return RenewOutcome(slot, "nothing", old_serial, None, days_left)

    pending = slot_dir / ".renewal"
    pending.mkdir(mode=0o700, exist_ok=True)
    state_file = pending / "state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    if state.get("old_serial") != old_serial:
        state = {"old_serial": old_serial, "revocation_code": new_revocation_code()}
        write_private(pending / "key.pem", key_to_pem(generate_key()))
        write_private(state_file, json.dumps(state).encode())
    key_pem = (pending / "key.pem").read_bytes()
    usage = recognise_usage(certificate)
    cn = common_name_of(certificate.subject) or ""
    if usage is None:
        raise SceauError("renew_profile", f"{slot}: profil du certificat non reconnu")
    csr = build_csr(load_key_pem(key_pem), CsrRequest(usage, cn, insi=cn in INSI_COMMON_NAMES))
    order = api.renew(old_serial, csr, actor_email, idempotency_key=f"renew:{old_serial}")
    order = api.wait_issued(int(order["id"]))
    new_serial = order["products"][0]["serial"]
    if not new_serial:
        reason = order["products"][0].get("rejection_reason") or order["products"][0]["state"]
        raise SceauError("renew_rejected", f"{slot}: renouvellement refusé ({reason})")
    fetched = fetch_certificate(api, new_serial, state["revocation_code"])
    install_fetched(
        target,
        slot,
        key_pem,
        fetched,
        {
            **{k: v for k, v in meta.items() if k in ("server", "structure", "item", "usage")},
            "renewal_of": old_serial,
            "order_id": order["id"],
        },
    )
    shutil.rmtree(pending, ignore_errors=True)
    return RenewOutcome(slot, "renewed", old_serial, new_serial, days_left)
