"""``python -m sceau.web.api > docs/openapi.json``: print the API's OpenAPI 3.1 document."""

from __future__ import annotations

import json
import sys

from fastapi import FastAPI

from sceau.web.api import install, openapi_document


def document_text() -> str:
    app = FastAPI()
    install(app)
    return json.dumps(openapi_document(app), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document_text())
