"""etalab FINESS extract: parser and fictitious-data generator (domain §8.1)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sceau.registration.departments import DEPARTMENTS
from sceau.registration.finess_extract import (
    BROKEN_KINDS,
    ExtractGeolocation,
    ExtractItem,
    ExtractMetadata,
    ExtractRecord,
    ExtractReject,
    decode_line,
    generate_extract,
    parse_extract,
    write_extract,
)
from sceau.registration.identifiers import is_test_finess, validate_siret

# A real line of the 2026 extract (domain §8.1).
REAL_LINE = (
    "structureet;970100012;970100103;POLYCLINIQUE DE LA GUADELOUPE;POLYCLINIQUE DE GUADELOUPE;;;;;"
    "MORNE JOLIVIERE;;;101;9A;GUADELOUPE;97139 LES ABYMES;0590821963;0590837034;365;"
    "Etablissement de Soins Pluridisciplinaire;1110;Etablissements de Soins de Courte Durée;"
    "31328539700011;8610Z;07;ARS;0;Non concerné;1969-03-01;1969-03-01;2010-08-25;"
)
REAL_GEOLOCATION = (
    "geolocalisation;970100012;654321.5;1798765.25;"
    "1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,EPSG:5490 RGAF09 / UTM 20N (Guadeloupe);2024-02-01"
)
METADATA = "finess;etalab;98;2026-05-12"


T = TypeVar("T")


def _of_type(items: list[ExtractItem], kind: type[T]) -> list[T]:
    return [item for item in items if isinstance(item, kind)]


def test_the_real_sample_line_parses() -> None:
    assert len(REAL_LINE.split(";")) == 32  # numuai empty: the line ends with its separator
    items = list(parse_extract([METADATA, REAL_LINE, REAL_GEOLOCATION]))
    assert items[0] == ExtractMetadata(1, 98, date(2026, 5, 12))
    record = items[1]
    assert isinstance(record, ExtractRecord)
    assert record.line_number == 2
    assert (record.finess_et, record.finess_ej) == ("970100012", "970100103")
    assert record.raison_sociale == "POLYCLINIQUE DE LA GUADELOUPE"
    assert record.raison_sociale_longue == "POLYCLINIQUE DE GUADELOUPE"
    assert record.voie == "MORNE JOLIVIERE" and record.street == "MORNE JOLIVIERE"
    assert (record.departement, record.department_label) == ("971", "Guadeloupe")
    assert record.state_value == "Guadeloupe (971)"
    assert record.commune_code == "97101"
    assert (record.postcode, record.city) == ("97139", "LES ABYMES")
    assert (record.phone, record.fax) == ("0590821963", "0590837034")
    assert (record.category_code, record.aggregate_category_code) == ("365", "1110")
    assert record.aggregate_category_label == "Etablissements de Soins de Courte Durée"
    assert (record.siret, record.ape) == ("31328539700011", "8610Z")
    assert record.date_opened == record.date_authorised == date(1969, 3, 1)
    assert record.date_updated == date(2010, 8, 25)
    assert record.warnings == () and not record.is_pharmacy
    geolocation = items[2]
    assert geolocation == ExtractGeolocation(
        3,
        "970100012",
        654321.5,
        1798765.25,
        "1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,EPSG:5490 RGAF09 / UTM 20N (Guadeloupe)",
        "5490",
        date(2024, 2, 1),
    )


def test_line_endings_bom_blank_lines_and_an_extra_trailing_separator() -> None:
    data = (
        b"\xef\xbb\xbf" + METADATA.encode() + b"\r\n\r\n"
        + (REAL_LINE + ";").encode("latin-1") + b"\r\n"
    )  # fmt: skip
    items = list(parse_extract(data))
    assert isinstance(items[0], ExtractMetadata)
    assert isinstance(items[1], ExtractRecord) and items[1].line_number == 3
    assert len(items) == 2


def test_accents_in_latin1_and_utf8_and_mixed_files() -> None:
    line = (
        REAL_LINE.replace("POLYCLINIQUE DE LA GUADELOUPE", "PHARMACIE DU RHÔNE")
        .replace("MORNE JOLIVIERE", "QUAI DU RHÔNE")
    )  # fmt: skip
    for encoding in ("latin-1", "utf-8", "cp1252"):
        record = next(iter(parse_extract([line.encode(encoding)])))
        assert isinstance(record, ExtractRecord), record
        assert record.raison_sociale == "PHARMACIE DU RHÔNE"
        assert record.voie == "QUAI DU RHÔNE"
        assert record.aggregate_category_label.endswith("Courte Durée")
    mixed = [METADATA.encode(), line.encode("latin-1"), line.encode("utf-8")]
    records = _of_type(list(parse_extract(mixed)), ExtractRecord)
    assert [r.raison_sociale for r in records] == ["PHARMACIE DU RHÔNE"] * 2
    assert decode_line("Rhône".encode("latin-1")) == "Rhône"
    assert decode_line("Rhône".encode()) == "Rhône"
    assert decode_line(b"S\x8cUR") == "SŒUR"  # Windows-1252 only
    assert decode_line(b"\x81") == "\x81"  # undefined in cp1252: ISO-8859-1


def test_rejects_name_the_line_and_the_rule() -> None:
    lines = [
        METADATA,
        REAL_LINE.replace("970100012", "970100013", 1),
        REAL_LINE.replace(";970100103;", ";0B0152872;"),
        REAL_LINE.replace(";9A;", ";9Z;"),
        REAL_LINE.replace("2010-08-25", "2010-02-30"),
        REAL_LINE.replace(";365;", ";;"),
        REAL_LINE.replace(";;;101;", ";;101;"),
        "structureet;\x00\x01garbage",
        "autre;chose",
        "finess;etalab;99;2026-05-12",
        "geolocalisation;970100012;abc;1;src;2024-01-01",
        "geolocalisation;970100012;1;2;src",
    ]
    items = list(parse_extract(lines))
    rejects = {item.line_number: item for item in _of_type(items, ExtractReject)}
    codes = {number: reject.code for number, reject in rejects.items()}
    assert codes == {
        2: "finess_et",
        3: "finess_ej",
        4: "department",
        5: "date",
        6: "category",
        7: "field_count",
        8: "control_characters",
        9: "record_type",
        10: "metadata",
        11: "coordinates",
        12: "field_count",
    }
    assert "clé de contrôle (Luhn) invalide, attendu 2" in rejects[2].reason
    assert "TEST" in rejects[3].reason
    assert "expected 32 fields, got 31" in rejects[7].reason
    assert rejects[9].text == "autre;chose"


def test_metadata_rules() -> None:
    without = list(parse_extract([REAL_LINE]))
    assert len(without) == 1 and isinstance(without[0], ExtractRecord)
    for bad in ("finess;etalab;x;2026-05-12", "finess;etalab;98", "finess;other;98;2026-05-12",
                "finess;etalab;98;12/05/2026"):  # fmt: skip
        first = next(iter(parse_extract([bad])))
        assert isinstance(first, ExtractReject) and first.code == "metadata", bad


def test_optional_values_and_warnings() -> None:
    line = (
        REAL_LINE.replace("31328539700011", "31328539700012")
        .replace("97139 LES ABYMES", "LES ABYMES")
        .replace("0590837034", "")
        .replace("1969-03-01;1969-03-01", ";")
    )  # fmt: skip
    record = next(iter(parse_extract([line])))
    assert isinstance(record, ExtractRecord)
    assert record.siret is None and record.fax is None
    assert record.postcode is None and record.city == "LES ABYMES"
    assert record.date_opened is None and record.date_authorised is None
    assert len(record.warnings) == 2
    moved = next(iter(parse_extract([REAL_LINE.replace("97139 LES", "69003 LES")])))
    assert isinstance(moved, ExtractRecord)
    assert moved.warnings == ("postcode 69003 is not in département 971",)
    empty = next(iter(parse_extract(["geolocalisation;970100012;;;;"])))
    assert isinstance(empty, ExtractGeolocation)
    assert (empty.x, empty.y, empty.epsg, empty.date_updated) == (None, None, None, None)


def test_generated_extract_round_trip() -> None:
    extract = generate_extract(300, seed=7)
    assert extract == generate_extract(300, seed=7)  # reproducible
    assert extract.lines != generate_extract(300, seed=8).lines
    items = list(parse_extract(extract.encode("latin-1")))
    assert items[0] == ExtractMetadata(1, 98, date(2026, 5, 12))
    assert _of_type(items, ExtractReject) == []
    records = _of_type(items, ExtractRecord)
    geolocations = _of_type(items, ExtractGeolocation)
    assert len(records) == extract.records == 300
    assert len(geolocations) == extract.geolocations > 200
    assert len({r.finess_et for r in records} | {r.finess_ej for r in records}) == 600
    assert len({r.raison_sociale for r in records}) == 300
    for record in records:
        fields = extract.lines[record.line_number - 1].split(";")
        assert (record.finess_et, record.finess_ej, record.raison_sociale) == tuple(fields[1:4])
        assert record.department_label == DEPARTMENTS[record.departement].name
        if len(record.departement) == 2:  # FINESS numbers start with their département
            assert record.finess_et[:2] == record.departement
        else:
            assert record.finess_et[:4] == "970" + record.departement[2]
        assert record.siret is None or validate_siret(record.siret) == record.siret
        assert record.postcode is not None and record.warnings == ()
        assert record.date_opened is not None and record.date_updated is not None
        assert record.date_opened <= record.date_updated
    categories = Counter(r.category_code for r in records)
    assert categories.most_common(1)[0][0] == "620"
    pharmacy = next(r for r in records if r.is_pharmacy)
    assert pharmacy.category_label == "Pharmacie d'Officine"
    assert pharmacy.aggregate_category_code == "3201"
    assert pharmacy.raison_sociale.startswith(("PHARMACIE", "GRANDE PHARMACIE"))
    assert {g.finess_et for g in geolocations} <= {r.finess_et for r in records}
    assert {g.epsg for g in geolocations} >= {"2154"}
    utf8 = list(parse_extract(extract.encode("utf-8")))
    assert utf8 == items


def test_broken_lines_are_reported_where_they_were_put() -> None:
    extract = generate_extract(200, seed=3, broken=25)
    assert len(extract.broken) == 25 and set(extract.broken.values()) == set(BROKEN_KINDS)
    for encoding in ("latin-1", "utf-8"):
        items = list(parse_extract(extract.encode(encoding)))
        rejects = _of_type(items, ExtractReject)
        assert {r.line_number: r.code for r in rejects} == dict(extract.broken)
        assert all(r.reason for r in rejects)
        assert len(_of_type(items, ExtractRecord)) == 200


def test_test_environment_extract(tmp_path: Path) -> None:
    path = tmp_path / "etalab-cs1100507-stock-20260512-0339.csv"
    extract = write_extract(path, 150, seed=11, environment="test")
    test_numbers = [line for line in extract.lines[1:151] if is_test_finess(line.split(";")[1])]
    assert test_numbers
    in_test = list(parse_extract(path, environment="test"))
    assert _of_type(in_test, ExtractReject) == []
    in_prod = _of_type(list(parse_extract(str(path), environment="prod")), ExtractReject)
    assert in_prod and all(r.code in ("finess_et", "finess_ej") for r in in_prod)
    assert all("TEST" in r.reason for r in in_prod)
    assert path.read_bytes() == extract.encode("latin-1")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.text(max_size=80),
            st.text(alphabet="structureetgeolocalisation;0123456789AB-", max_size=120),
            st.builds(lambda n: ";".join(["structureet", *["x"] * n]), st.integers(0, 40)),
        ),
        max_size=8,
    )
)
def test_random_input_never_crashes(lines: list[bytes | str]) -> None:
    clean = [
        line
        for line in lines
        if not (b"\n" in line or b"\r" in line if isinstance(line, bytes) else "\n" in line)
    ]
    items = list(parse_extract(clean))
    assert len(items) <= len(clean)
    numbers = [item.line_number for item in items]
    assert numbers == sorted(set(numbers))
    assert all(1 <= n <= len(clean) for n in numbers)


@pytest.mark.slow
def test_one_hundred_thousand_lines() -> None:
    started = time.perf_counter()
    extract = generate_extract(52_700, seed=5, broken=100)  # ~90% get a geolocation line
    data = extract.encode("latin-1")
    generated = time.perf_counter()
    counts = Counter(type(item).__name__ for item in parse_extract(data.splitlines()))
    parsed = time.perf_counter()
    print(
        f"\n{len(extract.lines)} lines ({len(data) / 1e6:.1f} MB): generated in "
        f"{generated - started:.2f} s, parsed in {parsed - generated:.2f} s: {dict(counts)}"
    )
    assert len(extract.lines) >= 100_000
    assert counts["ExtractRecord"] == 52_700 and counts["ExtractReject"] == 100
