"""The committed ``docs/openapi.json`` is the document the server serves."""

from __future__ import annotations

import json
from pathlib import Path

from sceau.web.api.__main__ import document_text

DOCUMENT = Path(__file__).parents[3] / "docs" / "openapi.json"


def test_committed_openapi_document_is_current() -> None:
    assert DOCUMENT.read_text() == document_text(), (
        "docs/openapi.json is stale: run `python -m sceau.web.api > docs/openapi.json`"
    )


def test_document_shape() -> None:
    document = json.loads(DOCUMENT.read_text())
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["apiToken"]["scheme"] == "bearer"
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    for path, operations in document["paths"].items():
        assert path.startswith("/api/v1/")
        for operation in operations.values():
            assert "401" in operation["responses"], path
            assert "application/problem+json" in operation["responses"]["401"]["content"]
