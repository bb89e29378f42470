"""Bulk rows for notification tests: structures, administrators, certificates (no signing)."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import insert, select

from sceau.storage.tables import (
    Certificate,
    CertificateAuthority,
    Habilitation,
    Person,
    Structure,
)


def add_structures(uow: Any, count: int, *, now: dt.datetime, start: int = 0) -> list[int]:
    rows = [
        {
            "idnst": f"1{750000000 + start + n:09d}",
            "finess_et": f"{750000000 + start + n:09d}",
            "raison_sociale": f"PHARMACIE NUMERO {start + n}",
            "department_code": "75",
            "is_open": True,
            "mssante_operator": False,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    uow.session.execute(insert(Structure), rows)
    idnsts = [row["idnst"] for row in rows]
    found = uow.session.execute(
        select(Structure.idnst, Structure.id).where(Structure.idnst.in_(idnsts))
    ).all()
    by_idnst = dict(found)
    return [by_idnst[idnst] for idnst in idnsts]


def add_administrator(
    uow: Any, structure_ids: list[int], *, email: str, now: dt.datetime, name: str = "Durand"
) -> int:
    person = Person(
        idnat=f"8{secrets.randbelow(10**10):010d}",
        family_name=name.upper(),
        given_name="Claire",
        email=email,
        created_at=now,
        updated_at=now,
    )
    uow.session.add(person)
    uow.session.flush()
    uow.session.execute(
        insert(Habilitation),
        [
            {
                "structure_id": structure_id,
                "person_id": person.id,
                "administrator_status": "editeur",
                "email": email,
                "granted_at": now,
                "granted_by": "operator",
            }
            for structure_id in structure_ids
        ],
    )
    return int(person.id)


def organisations_authority_id(uow: Any) -> int:
    return int(
        uow.session.scalar(
            select(CertificateAuthority.id).where(CertificateAuthority.role == "organisations")
        )
    )


def certificate_row(
    authority_id: int,
    structure_id: int | None,
    not_after: dt.datetime,
    *,
    serial: str | None = None,
    status: str = "issued",
    **extra: Any,
) -> dict[str, Any]:
    serial = serial or secrets.token_hex(16)
    return {
        "serial": serial,
        "authority_id": authority_id,
        "structure_id": structure_id,
        "usage": "SSL_SERV",
        "insi": False,
        "status": status,
        "subject": f"CN=srv-{serial[:8]}.pharmacie.test",
        "common_name": f"srv-{serial[:8]}.pharmacie.test",
        "key_fingerprint": serial.ljust(64, "0"),
        "tbs_der": b"\x30\x00",
        "not_before": not_after - dt.timedelta(days=3 * 365),
        "not_after": not_after,
        "prepared_at": not_after - dt.timedelta(days=3 * 365),
        "issued_at": not_after - dt.timedelta(days=3 * 365),
        "revoked_at": None,
        "replaces_id": None,
        **extra,
    }


def add_certificates(uow: Any, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Insert rows; returns serial → id."""
    uow.session.execute(insert(Certificate), rows)
    serials = [row["serial"] for row in rows]
    found: dict[str, int] = {}
    for start in range(0, len(serials), 500):
        chunk = serials[start : start + 500]
        found.update(
            uow.session.execute(
                select(Certificate.serial, Certificate.id).where(Certificate.serial.in_(chunk))
            ).all()
        )
    return found
