"""Generator of fictitious etalab FINESS extracts, for tests, demos and benchmarks.

Output follows the real layout (domain §8.1): metadata line, ``structureet`` lines with valid
Luhn FINESS numbers in the right département, real département names, SIRETs with valid keys,
then ``geolocalisation`` lines. Mostly officines (category 620); a few other categories. On
request it slips deliberately broken lines in at recorded positions. Same seed, same file.
"""

from __future__ import annotations

import functools
import os
import random
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType

from sceau.registration.departments import DEPARTMENTS, ETALAB_OVERSEAS_CODES
from sceau.registration.identifiers import (
    LA_POSTE_SIREN,
    Environment,
    check_environment,
    finess_check_digit,
    luhn_check_digit,
)

# (categetab, libcategetab, categagretab, libcategagretab, APE, weight)
_CATEGORIES: tuple[tuple[str, str, str, str, str, int], ...] = (
    ("620", "Pharmacie d'Officine", "3201", "Commerce de Biens à Usage Médicaux", "4773Z", 70),
    ("365", "Etablissement de Soins Pluridisciplinaire", "1110",
     "Etablissements de Soins de Courte Durée", "8610Z", 6),
    ("355", "Centre Hospitalier (C.H.)", "1102", "Centres Hospitaliers", "8610Z", 6),
    ("500", "Etablissement d'hébergement pour personnes âgées dépendantes", "4401",
     "Etablissements et Services pour Personnes Agées", "8710A", 10),
    ("124", "Centre de Santé", "2202", "Centres de Santé", "8621Z", 8),
)  # fmt: skip
_CATEGORY_WEIGHTS = [category[5] for category in _CATEGORIES]

_NAMES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "620": ("PHARMACIE DU CENTRE", "PHARMACIE DE LA GARE", "PHARMACIE DE LA MAIRIE",
            "PHARMACIE DU MARCHE", "PHARMACIE DES ARCADES", "GRANDE PHARMACIE",
            "PHARMACIE DE L'EGLISE", "PHARMACIE DU PORT", "PHARMACIE DE LA POSTE",
            "PHARMACIE DES ECOLES", "PHARMACIE DU PARC", "PHARMACIE CENTRALE"),
    "365": ("POLYCLINIQUE", "CLINIQUE DU PARC", "CLINIQUE SAINT-JOSEPH"),
    "355": ("CENTRE HOSPITALIER",),
    "500": ("EHPAD LES TILLEULS", "EHPAD LES GLYCINES", "EHPAD LA ROSERAIE", "RESIDENCE LES PINS"),
    "124": ("CENTRE DE SANTE MUNICIPAL", "CENTRE DE SANTE DENTAIRE", "CENTRE DE SANTE INFIRMIER"),
})  # fmt: skip
_SURNAMES = (
    "MARTIN", "BERNARD", "DUBOIS", "THOMAS", "ROBERT", "RICHARD", "PETIT", "DURAND", "LEROY",
    "MOREAU", "SIMON", "LAURENT", "LEFEBVRE", "MICHEL", "GARCIA", "DAVID", "BERTRAND", "ROUX",
    "VINCENT", "FOURNIER", "MOREL", "GIRARD", "ANDRE", "MERCIER", "DUPONT", "LAMBERT", "BONNET",
    "FRANCOIS", "MARTINEZ", "VOLLENWEIDER",
)  # fmt: skip
_STREETS = (
    ("R", "DE LA REPUBLIQUE"), ("AV", "JEAN JAURES"), ("BD", "VICTOR HUGO"), ("PL", "DU MARCHE"),
    ("R", "PASTEUR"), ("AV", "DU GENERAL DE GAULLE"), ("R", "NATIONALE"), ("CHE", "DES VIGNES"),
    ("RTE", "DE PARIS"), ("ALL", "DES TILLEULS"), ("QUAI", "DES BATELIERS"), ("R", "DE LA GARE"),
    ("IMP", "DES LILAS"), ("BD", "GAMBETTA"), ("R", "DU FOUR"),
)  # fmt: skip
_LEGAL_FORMS = ("SELARL", "SNC", "SELAS", "EURL", "SARL")

# Lambert-93 for mainland France and Corsica; local UTM projections overseas.
_PROJECTIONS: Mapping[str, tuple[str, tuple[int, int, int, int]]] = MappingProxyType({
    "": ("EPSG:2154 RGF93 / Lambert-93 (Métropole)", (100_000, 1_200_000, 6_050_000, 7_110_000)),
    "971": ("EPSG:5490 RGAF09 / UTM 20N (Guadeloupe)", (620_000, 700_000, 1_750_000, 1_830_000)),
    "972": ("EPSG:5490 RGAF09 / UTM 20N (Martinique)", (690_000, 740_000, 1_590_000, 1_650_000)),
    "973": ("EPSG:2972 RGFG95 / UTM 22N (Guyane)", (150_000, 450_000, 230_000, 640_000)),
    "974": ("EPSG:2975 RGR92 / UTM 40S (Réunion)", (315_000, 380_000, 7_630_000, 7_700_000)),
    "976": ("EPSG:4471 RGM04 / UTM 38S (Mayotte)", (500_000, 530_000, 8_560_000, 8_600_000)),
})  # fmt: skip

_PHONE_ZONE_DEPARTMENTS = (
    ("01", ("75", "77", "78", "91", "92", "93", "94", "95")),
    ("02", ("14", "18", "22", "27", "28", "29", "35", "36", "37", "41", "44", "45", "49", "50",
            "53", "56", "61", "72", "76", "85")),
    ("03", ("02", "08", "10", "21", "25", "39", "51", "52", "54", "55", "57", "58", "59", "60",
            "62", "67", "68", "70", "71", "80", "88", "89", "90")),
    ("05", ("09", "12", "16", "17", "19", "23", "24", "31", "32", "33", "40", "46", "47", "64",
            "65", "79", "81", "82", "86", "87")),
    ("0590", ("971",)), ("0596", ("972",)), ("0594", ("973",)), ("0262", ("974",)),
    ("0269", ("976",)),
)  # fmt: skip
_PHONE_ZONES: Mapping[str, str] = MappingProxyType(
    {code: zone for zone, codes in _PHONE_ZONE_DEPARTMENTS for code in codes}
)
# Every other mainland département (south-east and Corsica) uses the 04 zone.

_ARRONDISSEMENTS = {"13": 16, "69": 9, "75": 20}
_SPECIAL_POSTCODES = {"2A": "20000", "2B": "20200"}
_ETALAB_CODES = {insee: etalab for etalab, insee in ETALAB_OVERSEAS_CODES.items()}
# Départements the generator draws from: mainland, Corsica and the five overseas départements.
_DEPARTMENT_CODES = tuple(
    code for code, department in DEPARTMENTS.items() if not department.collectivity
)

BROKEN_KINDS = ("field_count", "finess_et", "date", "control_characters", "department")
"""Kinds of broken lines; each is the ``ExtractReject.code`` the parser gives that line."""


@dataclass(frozen=True)
class GeneratedExtract:
    """A generated extract: its lines (no terminators) and where the broken ones are."""

    lines: tuple[str, ...]
    records: int  # valid structureet lines
    geolocations: int
    broken: Mapping[int, str] = field(default_factory=dict)  # line number (1-based) -> kind

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    def encode(self, encoding: str = "latin-1") -> bytes:
        return self.text().encode(encoding)

    def write(self, path: str | os.PathLike[str], encoding: str = "latin-1") -> Path:
        target = Path(path)
        target.write_bytes(self.encode(encoding))
        return target


@functools.cache
def _ascii_upper(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


class _Builder:
    def __init__(self, seed: int, environment: str) -> None:
        self.rng = random.Random(seed)  # noqa: S311 -- reproducible fictitious data, not secrets
        self.environment = environment
        self.used_finess: set[str] = set()
        self.used_names: set[str] = set()
        self.used_sirens: set[str] = set()

    def digits(self, count: int) -> str:
        return f"{self.rng.randrange(10**count):0{count}d}"

    def finess(self, code: str, *, allow_test: bool = True) -> str:
        while True:
            if allow_test and self.environment == "test" and self.rng.random() < 0.1:
                number = f"{self.rng.choice('013456789')}B{self.digits(7)}"
            else:
                # overseas numbers look like 9701xxxx (971), mainland like 69xxxxxx
                body = "970" + code[2] + self.digits(4) if len(code) == 3 else code + self.digits(6)
                number = body + str(finess_check_digit(body))
            if number not in self.used_finess:
                self.used_finess.add(number)
                return number

    def siret(self) -> str:
        while True:
            body = self.rng.choice("123456789") + self.digits(7)
            siren = body + str(luhn_check_digit(body))
            if siren != LA_POSTE_SIREN and siren not in self.used_sirens:
                self.used_sirens.add(siren)
                break
        head = siren + self.digits(4)
        return head + str(luhn_check_digit(head))

    def name(self, category: str, city: str) -> str:
        base = self.rng.choice(_NAMES[category])
        if category == "355":
            base = f"{base} DE {city}"
        candidate = f"{base} {self.rng.choice(_SURNAMES)}"
        suffix = 2
        unique = candidate
        while unique in self.used_names:
            unique = f"{candidate} {suffix}"
            suffix += 1
        self.used_names.add(unique)
        return unique

    def day(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange((end - start).days + 1))

    def postcode(self, code: str) -> str:
        if code in _ARRONDISSEMENTS:
            return f"{code}{self.rng.randint(1, _ARRONDISSEMENTS[code]):03d}"
        if code in _SPECIAL_POSTCODES:
            return _SPECIAL_POSTCODES[code]
        return code.ljust(5, "0") if len(code) == 3 else code + "000"

    def phone(self, code: str) -> str:
        prefix = _PHONE_ZONES.get(code, "04")
        return prefix + self.digits(10 - len(prefix))

    def structure(self) -> tuple[list[str], str]:
        """The 32 fields of a valid structureet line, and its INSEE département code."""
        rng = self.rng
        code = rng.choice(_DEPARTMENT_CODES)
        department = DEPARTMENTS[code]
        category = rng.choices(_CATEGORIES, weights=_CATEGORY_WEIGHTS)[0]
        city = _ascii_upper(department.chef_lieu)
        name = self.name(category[0], city)
        long_name = f"{rng.choice(_LEGAL_FORMS)} {name}" if category[0] == "620" else name
        typvoie, voie = rng.choice(_STREETS)
        opened = self.day(date(1950, 1, 1), date(2024, 12, 31))
        authorised = opened - timedelta(days=rng.randrange(0, 366))
        updated = self.day(opened, date(2026, 4, 30))
        commune = (code[2] if len(code) == 3 else str(rng.randint(0, 9))) + self.digits(2)
        fields = [
            "structureet", self.finess(code), self.finess(code), name, long_name, "", "",
            str(rng.randint(1, 250)), typvoie, voie, rng.choice(("", "", "", "B")),
            rng.choice(("", "", "", f"BP {rng.randint(1, 99)}")), commune,
            _ETALAB_CODES.get(code, code), _ascii_upper(department.name),
            f"{self.postcode(code)} {city}", self.phone(code),
            self.phone(code) if rng.random() < 0.5 else "",
            category[0], category[1], category[2], category[3],
            self.siret() if rng.random() < 0.9 else "", category[4],
            "01", "Etablissement Tarif Libre", "0", "Non concerné",
            opened.isoformat(), authorised.isoformat(), updated.isoformat(), "",
        ]  # fmt: skip
        return fields, code

    def geolocation(self, finess: str, code: str) -> str:
        label, (x_min, x_max, y_min, y_max) = _PROJECTIONS.get(code, _PROJECTIONS[""])
        x = self.rng.uniform(x_min, x_max)
        y = self.rng.uniform(y_min, y_max)
        updated = self.day(date(2015, 1, 1), date(2026, 4, 30))
        source = f"1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,{label}"
        return f"geolocalisation;{finess};{x:.1f};{y:.1f};{source};{updated.isoformat()}"

    def broken(self, kind: str) -> str:
        fields, _ = self.structure()
        if kind == "field_count":
            return ";".join(fields[: -self.rng.randint(2, 5)]) + ";"
        if kind == "finess_et":
            real = self.finess(self.rng.choice(("01", "69", "971")), allow_test=False)
            fields[1] = real[:8] + str((int(real[8]) + self.rng.randint(1, 9)) % 10)
        elif kind == "date":
            fields[30] = self.rng.choice(("2021-13-45", "2021-02-30", "31/12/2020", "2020-1-1"))
        elif kind == "department":
            fields[13] = self.rng.choice(("9Z", "00", "20", "XX"))
        else:  # control characters and high bytes, no separators
            garbage = "".join(chr(self.rng.choice((*range(1, 9), *range(0x80, 0x100))))
                              for _ in range(self.rng.randint(10, 60)))  # fmt: skip
            return "\x01" + garbage
        return ";".join(fields)


def generate_extract(
    count: int,
    *,
    seed: int,
    broken: int = 0,
    environment: Environment | str = "prod",
    geolocation_ratio: float = 0.9,
    version: int = 98,
    extracted_on: date = date(2026, 5, 12),
) -> GeneratedExtract:
    """Generate ``count`` valid structures plus ``broken`` broken lines among them.

    Lines: metadata, then the structureet lines (broken ones at random, recorded positions),
    then one geolocalisation line for about ``geolocation_ratio`` of the valid structures.
    With ``environment="test"`` about one FINESS number in ten is an ANS test number
    (``0B…``), valid only when parsed for TEST. All text is ISO-8859-1-encodable.
    """
    check_environment(environment)
    if count < 0 or broken < 0:
        raise ValueError("count and broken must not be negative")
    builder = _Builder(seed, environment)
    rng = builder.rng
    broken_slots = set(rng.sample(range(count + broken), broken))
    lines = [f"finess;etalab;{version};{extracted_on.isoformat()}"]
    broken_at: dict[int, str] = {}
    located: list[tuple[str, str]] = []
    for slot in range(count + broken):
        if slot in broken_slots:
            kind = BROKEN_KINDS[len(broken_at) % len(BROKEN_KINDS)]
            lines.append(builder.broken(kind))
            broken_at[len(lines)] = kind
            continue
        fields, code = builder.structure()
        lines.append(";".join(fields))  # empty numuai: the line ends with ';' like the real one
        if rng.random() < geolocation_ratio:
            located.append((fields[1], code))
    lines.extend(builder.geolocation(finess, code) for finess, code in located)
    return GeneratedExtract(tuple(lines), count, len(located), MappingProxyType(broken_at))


def write_extract(
    path: str | os.PathLike[str],
    count: int,
    seed: int,
    broken: int = 0,
    *,
    encoding: str = "latin-1",
    environment: Environment | str = "prod",
) -> GeneratedExtract:
    """Generate an extract (see :func:`generate_extract`) and write it to ``path``."""
    extract = generate_extract(count, seed=seed, broken=broken, environment=environment)
    extract.write(path, encoding)
    return extract
