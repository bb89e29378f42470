"""FINESS import: broken lines are reported, the rest imported; a second run changes nothing."""

from __future__ import annotations

import re

import pytest

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.authorization import Actor
from sceau.registration.finess_extract import BROKEN_KINDS, generate_extract
from sceau.registration.use_cases.finess_import import import_finess_extract
from sceau.registration.use_cases.structures import (
    AddStructureCommand,
    add_structure,
    close_structure,
    list_structures,
    show_structure,
)


@pytest.fixture
def extract(tmp_path):
    generated = generate_extract(300, seed=7, broken=10)
    path = generated.write(tmp_path / "etalab-cs1100507-stock-20260512-0339.csv")
    return generated, path


def test_import_reports_broken_lines_and_is_idempotent(services, extract):
    generated, path = extract
    seen_progress: list[int] = []
    report = import_finess_extract(
        services,
        path,
        environment="prod",
        batch_size=64,
        progress=seen_progress.append,
        progress_every=100,
    )
    assert report.imported == 300 and report.updated == 0 and report.unchanged == 0
    assert {(line.line_number, line.code) for line in report.rejected} == set(
        generated.broken.items()
    )
    assert {line.code for line in report.rejected} == set(BROKEN_KINDS)
    assert all(line.reason for line in report.rejected)
    assert report.geolocations == generated.geolocations
    assert seen_progress[-1] == report.lines and seen_progress == sorted(seen_progress)
    with services.unit_of_work() as uow:
        assert uow.structures.count() == 300
        summary = uow.audit.list(action="structure.import")[0].details
    assert summary["imported"] == 300 and summary["rejected"] == 10

    again = import_finess_extract(services, path, environment="prod", batch_size=64)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 300)
    assert len(again.rejected) == 10
    with services.unit_of_work() as uow:
        assert uow.structures.count() == 300


def test_imported_structure_carries_department_label_and_category(services, extract):
    generated, path = extract
    import_finess_extract(services, path, environment="prod")
    line = next(
        text
        for n, text in enumerate(generated.lines, 1)
        if text.startswith("structureet") and n not in generated.broken
    )
    fields = line.split(";")
    structure = show_structure(services, fields[1], "operator")
    assert structure.idnst == "1" + fields[1]
    assert structure.finess_ej == fields[2]
    assert structure.category_code == fields[18]
    assert structure.state.endswith(f"({structure.department_code})")
    assert structure.is_open


def test_a_changed_line_is_an_update_and_a_closed_structure_stays_closed(services, extract):
    generated, path = extract
    import_finess_extract(services, path, environment="prod")
    target = next(
        text
        for n, text in enumerate(generated.lines, 1)
        if text.startswith("structureet") and n not in generated.broken
    )
    fields = target.split(";")
    close_structure(services, fields[1], "operator")
    fields[3] = "PHARMACIE RENOMMEE"
    changed = [";".join(fields) if line == target else line for line in generated.lines]
    report = import_finess_extract(services, changed, environment="prod")
    assert (report.imported, report.updated, report.unchanged) == (0, 1, 299)
    structure = show_structure(services, fields[1], "operator")
    assert structure.raison_sociale == "PHARMACIE RENOMMEE" and not structure.is_open


def test_duplicate_lines_are_rejected_with_the_first_line_number(services):
    generated = generate_extract(3, seed=3, geolocation_ratio=0)
    lines = [*generated.lines, generated.lines[1]]
    report = import_finess_extract(services, lines, environment="prod")
    assert report.imported == 3
    assert [(r.line_number, r.code) for r in report.rejected] == [(5, "duplicate")]
    assert "ligne 2" in report.rejected[0].reason


def test_test_numbers_pass_in_test_and_are_refused_in_prod(services):
    generated = generate_extract(60, seed=11, environment="test", geolocation_ratio=0)
    test_numbers = sum(
        1
        for line in generated.lines[1:]
        if any(re.fullmatch(r"[013-9]B[0-9]{7}", number) for number in line.split(";")[1:3])
    )
    assert test_numbers > 0
    in_prod = import_finess_extract(services, generated.lines, environment="prod")
    assert in_prod.imported == 60 - test_numbers
    assert {r.code for r in in_prod.rejected} <= {"finess_et", "finess_ej"}
    in_test = import_finess_extract(services, generated.lines, environment="test")
    assert in_test.imported == test_numbers and in_test.unchanged == 60 - test_numbers


def test_only_the_operator_imports(services):
    with pytest.raises(SceauError) as refused:
        import_finess_extract(
            services, ["finess;etalab;98;2026-05-12"], actor=Actor.person(1, "810002813839")
        )
    assert refused.value.kind is ErrorKind.FORBIDDEN


def test_corrupted_finess_is_refused_with_the_rule(services):
    with pytest.raises(SceauError) as refused:
        add_structure(services, AddStructureCommand("010002302", "PHARMACIE", "01"))
    assert refused.value.code == "finess_check_digit"
    assert "Luhn" in refused.value.message
    add_structure(
        services, AddStructureCommand("970100012", "POLYCLINIQUE", "971", category_code="365")
    )
    [structure] = list_structures(services, "operator", "POLYCLINIQUE")
    assert structure.state == "Guadeloupe (971)"
