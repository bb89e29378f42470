"""Import the public FINESS extract (etalab CSV): idempotent batch upsert of structures.

Lines are parsed lazily and handled by batches of ``batch_size`` records: one query reads
the existing rows of the batch, then one bulk INSERT and one bulk UPDATE write the
differences, and the batch is committed. A record equal to what is stored is counted
unchanged and not written, so a second run of the same file changes nothing. Broken lines
are reported with their line number and the rule they break; the rest is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sceau.registration.authorization import Action, Actor
from sceau.registration.finess_extract import (
    ExtractGeolocation,
    ExtractMetadata,
    ExtractRecord,
    ExtractReject,
    ExtractSource,
    parse_extract,
)
from sceau.registration.identifiers import idnst_for_finess
from sceau.registration.ports import Services
from sceau.registration.use_cases.registry_common import (
    as_actor,
    audit,
    open_uow,
    require_operator,
)
from sceau.registration.use_cases.structures import MAX_RAISON_SOCIALE

# Columns compared to decide "unchanged"; is_open is left alone on existing rows (an operator
# may have closed a structure), new rows are open.
COMPARED = (
    "finess_et",
    "finess_ej",
    "siret",
    "raison_sociale",
    "address",
    "postcode",
    "city",
    "department_code",
    "category_code",
    "category_label",
    "source_updated",
)
AUDITED_REJECTS = 200  # rejected lines listed in the audit event (all are in the report)


@dataclass(frozen=True)
class RejectedLine:
    line_number: int
    code: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedLine] = field(default_factory=list)
    geolocations: int = 0  # geolocalisation lines read (not stored)
    lines: int = 0
    extract_version: int | None = None
    extracted_on: str | None = None

    @property
    def changed(self) -> int:
        return self.imported + self.updated

    def summary(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "geolocations": self.geolocations,
            "lines": self.lines,
            "extract_version": self.extract_version,
            "extracted_on": self.extracted_on,
        }


def _fields(record: ExtractRecord) -> dict[str, Any]:
    address_parts = [record.street, record.lieuditbp]
    address = ", ".join(part for part in address_parts if part) or None
    return {
        "idnst": idnst_for_finess(record.finess_et),
        "finess_et": record.finess_et,
        "finess_ej": record.finess_ej or None,
        "siret": record.siret,
        "raison_sociale": " ".join(record.raison_sociale.split()),
        "address": address,
        "postcode": record.postcode,
        "city": record.city or None,
        "department_code": record.departement,
        "category_code": record.category_code,
        "category_label": record.category_label or None,
        "source_updated": record.date_updated.isoformat() if record.date_updated else None,
    }


class _Importer:
    def __init__(self, uow: Any, report: ImportReport, now: Any, batch_size: int):
        self.uow = uow
        self.report = report
        self.now = now
        self.batch_size = batch_size
        self.batch: list[dict[str, Any]] = []
        self.seen: dict[str, int] = {}  # IDNST -> line number of its first occurrence

    def add(self, record: ExtractRecord) -> None:
        values = _fields(record)
        idnst = values["idnst"]
        first = self.seen.get(idnst)
        if first is not None:
            self.reject(
                record.line_number, "duplicate", f"FINESS {record.finess_et} déjà vu ligne {first}"
            )
            return
        if not values["raison_sociale"] or len(values["raison_sociale"]) > MAX_RAISON_SOCIALE:
            self.reject(
                record.line_number,
                "raison_sociale",
                f"raison sociale vide ou de plus de {MAX_RAISON_SOCIALE} caractères (champ O)",
            )
            return
        self.seen[idnst] = record.line_number
        self.batch.append(values)
        if len(self.batch) >= self.batch_size:
            self.flush()

    def reject(self, line_number: int, code: str, reason: str) -> None:
        self.report.rejected.append(RejectedLine(line_number, code, reason))

    def flush(self) -> None:
        if not self.batch:
            return
        existing = self.uow.structures.by_idnsts([values["idnst"] for values in self.batch])
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for values in self.batch:
            stored = existing.get(values["idnst"])
            if stored is None:
                inserts.append(
                    {
                        **values,
                        "is_open": True,
                        "mssante_operator": False,
                        "created_at": self.now,
                        "updated_at": self.now,
                    }
                )
                continue
            changed = {name: values[name] for name in COMPARED if stored[name] != values[name]}
            if changed:
                updates.append({"id": stored["id"], **changed, "updated_at": self.now})
            else:
                self.report.unchanged += 1
        self.uow.structures.insert_many(inserts)
        self.uow.structures.update_many(updates)
        self.uow.commit()
        self.report.imported += len(inserts)
        self.report.updated += len(updates)
        self.batch = []


def import_finess_extract(
    services: Services,
    source: ExtractSource,
    *,
    actor: Actor | str = "operator",
    environment: str = "test",
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
    progress_every: int = 1000,
) -> ImportReport:
    """Upsert every valid ``structureet`` line of ``source`` (path, bytes or lines).

    ``progress`` is called with the number of lines read so far, every ``progress_every``
    lines and at the end. The import is audited as one ``structure.import`` event with the
    counts and the first rejected lines.
    """
    who = as_actor(actor)
    report = ImportReport()
    now = services.clock.now()
    with open_uow(services) as uow:
        require_operator(uow, who, Action.STRUCTURE_IMPORT, at=now, target=None)
        importer = _Importer(uow, report, now, batch_size)
        for item in parse_extract(source, environment=environment):
            report.lines += 1
            if isinstance(item, ExtractRecord):
                importer.add(item)
            elif isinstance(item, ExtractReject):
                importer.reject(item.line_number, item.code, item.reason)
            elif isinstance(item, ExtractGeolocation):
                report.geolocations += 1
            elif isinstance(item, ExtractMetadata):
                report.extract_version = item.version
                report.extracted_on = item.extracted_on.isoformat()
            if progress is not None and report.lines % progress_every == 0:
                progress(report.lines)
        importer.flush()
        audit(
            uow,
            at=now,
            actor=who,
            action="structure.import",
            target=None,
            details={
                **report.summary(),
                "rejected_lines": [
                    [line.line_number, line.code] for line in report.rejected[:AUDITED_REJECTS]
                ],
            },
        )
        uow.commit()
    if progress is not None:
        progress(report.lines)
    return report
