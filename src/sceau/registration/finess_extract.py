"""Reader of the legacy etalab FINESS extract (``etalab-cs1100507-stock-*.csv``, domain §8.1).

The file is ``;``-separated without quoting: a metadata line ``finess;etalab;<n>;<YYYY-MM-DD>``,
then ``structureet`` lines (32 fields; the last, ``numuai``, is usually empty so the line ends
with ``;`` — one more separator after it is tolerated), then ``geolocalisation`` lines
(6 fields). :func:`parse_extract` yields one item per non-blank line: the metadata, a record,
a geolocation, or a reject naming the line and the rule it broke; it never raises on bad data.
The fictitious-data generator (:func:`generate_extract`, :func:`write_extract`) lives in
:mod:`sceau.registration.finess_extract_generator` and is re-exported here.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from sceau.registration.departments import (
    ETALAB_OVERSEAS_CODES,
    department_from_etalab,
    department_from_postcode,
    department_label,
)
from sceau.registration.finess_extract_generator import (
    BROKEN_KINDS,
    GeneratedExtract,
    generate_extract,
    write_extract,
)
from sceau.registration.identifiers import (
    CorsicaRule,
    Environment,
    IdentifierError,
    check_environment,
    validate_finess,
    validate_siret,
)

__all__ = [
    "BROKEN_KINDS",
    "ExtractGeolocation",
    "ExtractItem",
    "ExtractMetadata",
    "ExtractRecord",
    "ExtractReject",
    "ExtractSource",
    "GeneratedExtract",
    "decode_line",
    "generate_extract",
    "parse_extract",
    "write_extract",
]

STRUCTURE_FIELD_COUNT = 32
GEOLOCATION_FIELD_COUNT = 6
PHARMACY_CATEGORY = "620"

ExtractSource = str | os.PathLike[str] | bytes | Iterable[bytes | str]
"""A path (str or PathLike), a whole file as bytes, or an iterable of lines (bytes or str)."""


@dataclass(frozen=True)
class ExtractMetadata:
    """The first line: ``finess;etalab;<version>;<date of extraction>``."""

    line_number: int
    version: int
    extracted_on: date


@dataclass(frozen=True)
class ExtractRecord:
    """One ``structureet`` line: an établissement (ET) and the number of its legal entity (EJ)."""

    line_number: int
    finess_et: str
    finess_ej: str
    raison_sociale: str
    raison_sociale_longue: str
    complement_raison_sociale: str
    complement_distribution: str
    numvoie: str
    typvoie: str
    voie: str
    compvoie: str
    lieuditbp: str
    commune_code: str | None  # INSEE code of the commune, e.g. 69383, 97101
    ligne_acheminement: str
    postcode: str | None
    city: str
    departement: str  # INSEE code: 69, 2A, 971 (etalab 9A normalised)
    department_label: str  # official name: Rhône, Guadeloupe
    phone: str | None
    fax: str | None
    category_code: str
    category_label: str
    aggregate_category_code: str
    aggregate_category_label: str
    siret: str | None
    ape: str | None
    date_opened: date | None
    date_authorised: date | None
    date_updated: date | None
    warnings: tuple[str, ...] = ()  # non-fatal problems (invalid SIRET, odd address line)

    @property
    def state_value(self) -> str:
        """The ST value for a certificate of this structure, e.g. ``Rhône (69)``."""
        return f"{self.department_label} ({self.departement})"

    @property
    def is_pharmacy(self) -> bool:
        return self.category_code == PHARMACY_CATEGORY

    @property
    def street(self) -> str:
        """``numvoie typvoie voie compvoie`` joined, blanks skipped."""
        parts = (self.numvoie, self.compvoie, self.typvoie, self.voie)
        return " ".join(part for part in parts if part)


@dataclass(frozen=True)
class ExtractGeolocation:
    """One ``geolocalisation`` line; join it to its record on ``finess_et``."""

    line_number: int
    finess_et: str
    x: float | None
    y: float | None
    source: str  # e.g. "2,ATLASANTE,100,BDADRESSE,EPSG:2154 RGF93 / Lambert-93 (Métropole)"
    epsg: str | None  # "2154", parsed from source
    date_updated: date | None


@dataclass(frozen=True)
class ExtractReject:
    """A line that was not imported; ``code`` names the rule, ``reason`` explains it."""

    line_number: int
    code: str
    reason: str
    text: str  # the decoded line, cut to 200 characters


ExtractItem = ExtractMetadata | ExtractRecord | ExtractGeolocation | ExtractReject


class _Rejected(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ACHEMINEMENT_RE = re.compile(r"([0-9]{5}) +(\S.*)")
_EPSG_RE = re.compile(r"EPSG:([0-9]+)")


def decode_line(raw: bytes) -> str:
    """Decode one line: UTF-8 if valid, else Windows-1252, else ISO-8859-1 (never fails).

    Per-line detection copes with files mixing both encodings; Latin text in ISO-8859-1 is
    practically never valid UTF-8 (``Rhône`` is ``52 68 F4 6E 65``, an invalid sequence).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _raw_lines(source: ExtractSource) -> Iterator[bytes | str]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as handle:
            yield from handle
    elif isinstance(source, bytes):
        yield from source.splitlines()
    else:
        yield from source


def _optional(value: str) -> str | None:
    return value or None


def _date(value: str, field: str) -> date | None:
    if not value:
        return None
    if _DATE_RE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _Rejected("date", f"{field}: invalid date {value[:30]!r}, expected YYYY-MM-DD")


def _finess(value: str, field: str, environment: str, corsica_rule: CorsicaRule) -> str:
    try:
        return validate_finess(value, environment=environment, corsica_rule=corsica_rule)
    except IdentifierError as error:
        raise _Rejected(field, f"{field}: {error.message}") from error


def _field_count(fields: list[str], expected: int, record_type: str) -> list[str]:
    if len(fields) == expected + 1 and fields[-1] == "":
        fields = fields[:-1]  # a separator after the last field
    if len(fields) != expected:
        raise _Rejected(
            "field_count", f"{record_type} line: expected {expected} fields, got {len(fields)}"
        )
    return [field.strip() for field in fields]


def _insee_commune(etalab_department: str, commune: str) -> str | None:
    if not commune:
        return None
    if etalab_department in ETALAB_OVERSEAS_CODES:  # 9A + 101 -> 97101
        return "97" + commune
    return etalab_department + commune


def _structure(
    line_number: int, parts: list[str], environment: str, corsica_rule: CorsicaRule
) -> ExtractRecord:
    f = _field_count(parts, STRUCTURE_FIELD_COUNT, "structureet")
    finess_et = _finess(f[1], "finess_et", environment, corsica_rule)
    finess_ej = _finess(f[2], "finess_ej", environment, corsica_rule)
    try:
        departement = department_from_etalab(f[13])
    except IdentifierError as error:
        raise _Rejected("department", f"departement: {error.message}") from error
    if not f[18]:
        raise _Rejected("category", "categetab: the category code is empty")
    date_opened = _date(f[28], "dateouv")
    date_authorised = _date(f[29], "dateautor")
    date_updated = _date(f[30], "datemaj")
    warnings: list[str] = []
    match = _ACHEMINEMENT_RE.fullmatch(f[15])
    postcode, city = (match.group(1), match.group(2)) if match else (None, f[15])
    if match is None:
        warnings.append(f"ligneacheminement {f[15][:60]!r} is not 'CP VILLE'")
    elif not _postcode_matches(postcode, departement):
        warnings.append(f"postcode {postcode} is not in département {departement}")
    siret: str | None = f[22] or None
    if siret is not None:
        try:
            siret = validate_siret(siret)
        except IdentifierError as error:
            warnings.append(f"siret ignored: {error.message}")
            siret = None
    return ExtractRecord(
        line_number=line_number,
        finess_et=finess_et,
        finess_ej=finess_ej,
        raison_sociale=f[3],
        raison_sociale_longue=f[4],
        complement_raison_sociale=f[5],
        complement_distribution=f[6],
        numvoie=f[7],
        typvoie=f[8],
        voie=f[9],
        compvoie=f[10],
        lieuditbp=f[11],
        commune_code=_insee_commune(f[13].upper(), f[12]),
        ligne_acheminement=f[15],
        postcode=postcode,
        city=city,
        departement=departement,
        department_label=department_label(departement),
        phone=_optional(f[16]),
        fax=_optional(f[17]),
        category_code=f[18],
        category_label=f[19],
        aggregate_category_code=f[20],
        aggregate_category_label=f[21],
        siret=siret,
        ape=_optional(f[23]),
        date_opened=date_opened,
        date_authorised=date_authorised,
        date_updated=date_updated,
        warnings=tuple(warnings),
    )


def _postcode_matches(postcode: str | None, departement: str) -> bool:
    if postcode is None:
        return False
    try:
        from_postcode = department_from_postcode(postcode)
    except IdentifierError:
        return False
    # Corsican postcodes are split 2A/2B by a rule of thumb; accept either.
    return from_postcode == departement or {from_postcode, departement} == {"2A", "2B"}


def _coordinate(value: str, field: str) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise _Rejected("coordinates", f"{field}: {value[:30]!r} is not a number")
    return number


def _geolocation(
    line_number: int, parts: list[str], environment: str, corsica_rule: CorsicaRule
) -> ExtractGeolocation:
    f = _field_count(parts, GEOLOCATION_FIELD_COUNT, "geolocalisation")
    epsg = _EPSG_RE.search(f[4])
    return ExtractGeolocation(
        line_number=line_number,
        finess_et=_finess(f[1], "finess_et", environment, corsica_rule),
        x=_coordinate(f[2], "coordxet"),
        y=_coordinate(f[3], "coordyet"),
        source=f[4],
        epsg=epsg.group(1) if epsg else None,
        date_updated=_date(f[5], "datemaj"),
    )


def _metadata(line_number: int, parts: list[str]) -> ExtractMetadata:
    if len(parts) == 5 and parts[-1] == "":
        parts = parts[:-1]
    if line_number != 1:
        raise _Rejected("metadata", "the metadata line is only allowed on line 1")
    if len(parts) != 4 or parts[1] != "etalab" or not parts[2].isascii() or not parts[2].isdigit():
        raise _Rejected("metadata", "metadata line: expected finess;etalab;<version>;<YYYY-MM-DD>")
    try:
        extracted_on = _date(parts[3], "metadata date")
    except _Rejected as rejected:
        raise _Rejected("metadata", rejected.reason) from None
    if extracted_on is None:
        raise _Rejected("metadata", "metadata line: the extraction date is empty")
    return ExtractMetadata(line_number, int(parts[2]), extracted_on)


def _parse_line(
    line_number: int, text: str, environment: str, corsica_rule: CorsicaRule
) -> ExtractItem:
    try:
        if not text.isprintable() and _CONTROL_RE.search(text):
            raise _Rejected("control_characters", "the line holds control characters")
        parts = text.split(";")
        record_type = parts[0]
        if record_type == "structureet":
            return _structure(line_number, parts, environment, corsica_rule)
        if record_type == "geolocalisation":
            return _geolocation(line_number, parts, environment, corsica_rule)
        if record_type == "finess":
            return _metadata(line_number, parts)
        raise _Rejected("record_type", f"unknown record type {record_type[:30]!r}")
    except _Rejected as rejected:
        return ExtractReject(line_number, rejected.code, rejected.reason, text[:200])


def parse_extract(
    source: ExtractSource,
    *,
    environment: Environment | str = "prod",
    corsica_rule: CorsicaRule = CorsicaRule.EITHER,
) -> Iterator[ExtractItem]:
    """Parse an etalab extract lazily, one item per non-blank line (blank lines are skipped).

    :class:`ExtractMetadata` comes first when line 1 is a metadata line (a file without one
    yields none). FINESS numbers are checked with
    :func:`~sceau.registration.identifiers.validate_finess` for ``environment``; a line whose
    ET or EJ is invalid, whose field count, dates, département or category are wrong, or which
    holds control characters becomes an :class:`ExtractReject`. Bytes are decoded per line
    (see :func:`decode_line`).
    """
    check_environment(environment)
    for line_number, raw in enumerate(_raw_lines(source), start=1):
        text = decode_line(raw) if isinstance(raw, bytes) else raw
        text = text.rstrip("\r\n")
        if line_number == 1:
            text = text.removeprefix("\ufeff")
        if not text.strip():
            continue
        yield _parse_line(line_number, text, environment, corsica_rule)
