"""The fleet's CSV of structures: one column or several, comma or semicolon, BOM."""

from __future__ import annotations

from pathlib import Path

import pytest

from sceau.client.fleet import read_structures
from sceau.pki.errors import SceauError


def test_single_column(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("structure\n690000017\n690000025\n690000017\n")
    assert read_structures(path) == ["690000017", "690000025"]


def test_semicolon_with_bom_and_finess_header(tmp_path: Path) -> None:
    path = tmp_path / "b.csv"
    path.write_text("\ufeffFINESS;raison_sociale\n690000017;PHARMACIE A\n690000025;PHARMACIE B\n")
    assert read_structures(path) == ["690000017", "690000025"]


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("nom,ville\nA,Lyon\n")
    with pytest.raises(SceauError) as caught:
        read_structures(path)
    assert caught.value.code == "fleet_csv"
