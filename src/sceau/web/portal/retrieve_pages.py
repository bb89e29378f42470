"""RETIRER: choose the certificate, type the revocation code twice, accept CGU and PC,
give the key's password (online generation), finalise, download."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from sceau.pki.errors import SceauError
from sceau.registration.use_cases.retrieve_certificate import (
    CURRENT_CGU_VERSION,
    CURRENT_PC_VERSION,
    RetrieveCommand,
    download_certificate,
    retrieve_certificate,
)
from sceau.registration.use_cases.track_certificates import TrackQuery, show_product, track_products
from sceau.web.portal.core import Page, get_page, html_error

router = APIRouter(include_in_schema=False)
PageDep = Annotated[Page, Depends(get_page)]
DOWNLOADS = "downloads"


@router.get("/retirer")
def retrieve_list(page: PageDep, recherche: str = "") -> Response:
    actor = page.require_login()
    try:
        result = track_products(
            page.services,
            TrackQuery(text=recherche or None, state="issued", limit=100),
            actor=actor,
        )
    except SceauError as error:
        return html_error(page, error)
    return page.render(
        "retrieve_list.html", tab="retirer", products=result.items, recherche=recherche
    )


def _form_page(page: Page, serial: str, errors: list[str], status_code: int = 200) -> Response:
    product = show_product(page.services, serial, actor=page.actor)
    return page.render(
        "retrieve_form.html",
        status_code=status_code,
        tab="retirer",
        product=product,
        errors=errors,
        cgu_version=CURRENT_CGU_VERSION,
        pc_version=CURRENT_PC_VERSION,
    )


@router.get("/retirer/{serial}")
def retrieve_form(page: PageDep, serial: str) -> Response:
    page.require_login()
    try:
        return _form_page(page, serial, [])
    except SceauError as error:
        return html_error(page, error)


@router.post("/retirer/{serial}")
async def retrieve(page: PageDep, serial: str) -> Response:
    actor = page.require_login()
    form = await page.form()
    try:
        files = retrieve_certificate(
            page.services,
            RetrieveCommand(
                serial=serial,
                revocation_code=str(form.get("code", "")),
                revocation_code_confirmation=str(form.get("code_confirmation", "")),
                accept_terms=form.get("acceptation") == "oui",
                cgu_version=str(form.get("cgu_version", "")),
                pc_version=str(form.get("pc_version", "")),
                pkcs12_password=str(form.get("mot_de_passe", "")) or None,
                pkcs12_layout=str(form.get("format_pkcs12", "ans")),
                actor=actor,
                source=page.source,
            ),
        )
    except SceauError as error:
        try:
            return _form_page(page, serial, [error.message], status_code=422)
        except SceauError as again:
            return html_error(page, again)
    data = page.data()
    # The PKCS#12 (password-protected) waits in the server-side session for its one download.
    data.setdefault(DOWNLOADS, {})[files.serial] = {
        f.name: [f.media_type, base64.b64encode(f.content).decode("ascii")] for f in files.files
    }
    page.save(data)
    page.flash(
        "Certificat retiré. Le code de révocation vous sera demandé pour révoquer sans "
        "vous connecter.",
        "succes",
    )
    return page.redirect(f"/retirer/{files.serial}/telechargements")


@router.get("/retirer/{serial}/telechargements")
def downloads(page: PageDep, serial: str) -> Response:
    actor = page.require_login()
    stored = page.data().get(DOWNLOADS, {}).get(serial, {})
    try:
        product = show_product(page.services, serial, actor=actor)
        public = download_certificate(page.services, serial, actor=actor)
    except SceauError as error:
        return html_error(page, error)
    names = list(dict.fromkeys([*stored.keys(), *(f.name for f in public.files)]))
    return page.render(
        "retrieve_done.html", tab="retirer", product=product, serial=public.serial, names=names
    )


@router.get("/retirer/{serial}/fichier/{name}")
def download_file(page: PageDep, serial: str, name: str) -> Response:
    actor = page.require_login()
    data = page.data()
    stored = data.get(DOWNLOADS, {}).get(serial, {})
    if name in stored:
        media_type, encoded = stored[name]
        content = base64.b64decode(encoded)
        if name.endswith(".p12"):  # the key leaves once: drop it from the session
            del stored[name]
            page.save(data)
    else:
        try:
            files = download_certificate(page.services, serial, actor=actor)
        except SceauError as error:
            return html_error(page, error)
        match = [f for f in files.files if f.name == name]
        if not match:
            return html_error(
                page,
                SceauError(
                    "file_gone",
                    f"fichier {name} indisponible (un PKCS#12 ne se télécharge qu'une fois)",
                ),
            )
        media_type, content = match[0].media_type, match[0].content
    response = Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    return page.finish(response)
