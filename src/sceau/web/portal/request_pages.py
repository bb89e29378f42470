"""DEMANDER: the request wizard of the guide, one step per page, state in the session.

Étape 1 offre et structure (habilitated structures only, searchable) → Étape 2 nouveau
produit (usage or usage bundle) or renewal (valid certificates only) → Étape 3 informations
de produit (service applicatif, INSi rule checked as you type and on submit) and contacts →
Étape 4 CSR (« Charger la CSR ») or online generation (« Créer en ligne ») → Finalisation.
Every rule is the use cases' (``request_certificates``, ``renew_certificate``); the pages
only carry the answers from step to step and show the use cases' French messages.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from sceau.pki.errors import ErrorKind, SceauError
from sceau.pki.profiles import Offer, Usage
from sceau.registration.authorization import ActorKind
from sceau.registration.orders.bundles import BUNDLES, Bundle, ProductSpec, offer_of, products_for
from sceau.registration.use_cases.renew_certificate import (
    RenewCommand,
    renew_certificate,
    renewable_certificates,
)
from sceau.registration.use_cases.request_certificates import (
    RequestCommand,
    check_common_name,
    request_certificates,
    validate_email,
)
from sceau.registration.use_cases.structures import list_structures, show_structure
from sceau.registration.use_cases.track_certificates import show_order, show_product
from sceau.web.portal.core import Page, PortalError, get_page

router = APIRouter(include_in_schema=False)
PageDep = Annotated[Page, Depends(get_page)]
WIZARD = "wizard"
STEPS = ("Étape 1 — Offre et structure", "Étape 2 — Produit", "Étape 3 — Informations",
         "Étape 4 — CSR", "Finalisation")  # fmt: skip
MAX_CSR_BYTES = 64 * 1024


def _wizard(page: Page) -> dict[str, Any]:
    return dict(page.data().get(WIZARD) or {})


def _save(page: Page, wizard: dict[str, Any]) -> None:
    data = page.data()
    data[WIZARD] = wizard
    page.save(data)


def _guard(page: Page) -> None:
    """Logged in; in the TEST environment, by card (the guide: e-CPS is not offered there)."""
    page.require_login()
    environment = page.services.settings.environment
    if environment == "test" and page.session is not None and page.session.auth_method == "ecps":
        raise PortalError(
            SceauError(
                "card_login_required",
                "Pour la commande de certificat logiciel de TEST, seule la connexion par « CARTE "
                "CPS » est disponible: reconnectez-vous avec votre carte",
                ErrorKind.FORBIDDEN,
            )
        )


def _choices(offer: str) -> list[tuple[str, str]]:
    """(value, label) of the usage bundles and single usages of ``offer``."""
    wanted = Offer(offer)
    items = [(f"bundle:{b.value}", b.label) for b in Bundle if offer_of(b) is wanted]
    items += [(f"usage:{u.value}", f"Usage {u.value} seul") for u in Usage if u.offer is wanted]
    return items


def _specs(wizard: dict[str, Any]) -> tuple[ProductSpec, ...]:
    if wizard.get("kind") == "renewal":
        return (ProductSpec(Usage(wizard["renew_usage"]), insi=bool(wizard.get("renew_insi"))),)
    kind, _, value = str(wizard.get("choice", "")).partition(":")
    offer = Offer(wizard.get("offer", "ORG"))
    if kind == "bundle":
        return products_for(offer=offer, bundle=Bundle(value), usage=None)
    return products_for(offer=offer, bundle=None, usage=Usage(value))


def _habilitated_structures(page: Page, search: str | None) -> list[Any]:
    rows = list_structures(
        page.services, page.actor, search or None, limit=50, include_closed=False
    )
    if page.actor.kind is ActorKind.OPERATOR:
        return rows
    return [row for row in rows if row.id in page.actor.habilitated_structure_ids]


def _step_page(
    page: Page, template: str, step: int, status_code: int = 200, **context: Any
) -> Response:
    return page.render(
        template, status_code=status_code, tab="demander", step=step, steps=STEPS, **context
    )


# ------------------------------------------------------------------------------ étape 1


@router.get("/demander")
def step1(page: PageDep, recherche: str = "", structure: str = "", offre: str = "") -> Response:
    _guard(page)
    wizard = _wizard(page)
    if structure:
        wizard["structure"] = structure
    structures = _habilitated_structures(page, recherche)
    return _step_page(
        page,
        "request_step1.html",
        1,
        structures=structures,
        recherche=recherche,
        offer=offre or wizard.get("offer", "ORG"),
        selected=wizard.get("structure", ""),
        errors=[],
    )


@router.post("/demander/etape1")
async def step1_post(page: PageDep) -> Response:
    _guard(page)
    form = await page.form()
    offer = str(form.get("offre", "ORG"))
    reference = str(form.get("structure", "")).strip()
    errors = []
    try:
        if offer not in (o.value for o in Offer):
            raise SceauError("offer", f"offre {offer!r} inconnue: ORG ou SERV")
        if not reference:
            raise SceauError("structure_required", "sélectionnez une structure")
        structure = show_structure(page.services, reference, page.actor)
        if (
            page.actor.kind is not ActorKind.OPERATOR
            and structure.id not in page.actor.habilitated_structure_ids
        ):
            raise SceauError(
                "not_habilitated",
                f"vous n'êtes pas administrateur technique habilité de {structure.idnst}: "
                "seules vos structures habilitées peuvent faire l'objet d'une demande",
                ErrorKind.FORBIDDEN,
            )
    except SceauError as error:
        errors.append(error.message)
    if errors:
        return _step_page(
            page, "request_step1.html", 1, status_code=422,
            structures=_habilitated_structures(page, None), recherche="", offer=offer,
            selected=reference, errors=errors,
        )  # fmt: skip
    _save(
        page,
        {"offer": offer, "structure": structure.idnst,
         "structure_label": f"{structure.raison_sociale} ({structure.idnst})"},
    )  # fmt: skip
    return page.redirect("/demander/etape2")


# ------------------------------------------------------------------------------ étape 2


def _step2(page: Page, wizard: dict[str, Any], errors: list[str], recherche: str = "",
           status_code: int = 200) -> Response:  # fmt: skip
    renewable = renewable_certificates(page.services, wizard["structure"], actor=page.actor)
    if recherche:
        needle = recherche.strip().upper()
        renewable = [p for p in renewable
                     if needle in p.service_applicatif.upper() or needle in p.usage
                     or needle in (p.serial or "").upper()]  # fmt: skip
    return _step_page(
        page, "request_step2.html", 2, status_code=status_code, wizard=wizard,
        choices=_choices(wizard["offer"]), renewable=renewable, recherche=recherche,
        errors=errors, bundles=BUNDLES,
    )  # fmt: skip


@router.get("/demander/etape2")
def step2(page: PageDep, recherche: str = "") -> Response:
    _guard(page)
    wizard = _wizard(page)
    if not wizard.get("structure"):
        return page.redirect("/demander")
    return _step2(page, wizard, [], recherche)


@router.post("/demander/etape2")
async def step2_post(page: PageDep) -> Response:
    _guard(page)
    form = await page.form()
    wizard = _wizard(page)
    if not wizard.get("structure"):
        return page.redirect("/demander")
    try:
        if form.get("action") == "renouveler":
            product = show_product(page.services, str(form.get("serie", "")), actor=page.actor)
            wizard.update(
                kind="renewal", renew_serial=product.serial, renew_usage=product.usage,
                renew_insi=product.insi, service_applicatif=product.service_applicatif,
                choice=None,
            )  # fmt: skip
        else:
            choice = str(form.get("choix", ""))
            if choice not in {value for value, _ in _choices(wizard["offer"])}:
                raise SceauError(
                    "usage_or_bundle",
                    "choisissez un usage métier (DMP, INSi, PSC, MSSanté) ou un usage",
                )
            wizard.update(kind="new", choice=choice, renew_serial=None)
            _specs(wizard)
    except SceauError as error:
        return _step2(page, wizard, [error.message], status_code=422)
    _save(page, wizard)
    return page.redirect("/demander/etape3")


# ------------------------------------------------------------------------------ étape 3


def _step3(
    page: Page, wizard: dict[str, Any], errors: list[str], status_code: int = 200
) -> Response:
    specs = _specs(wizard)
    return _step_page(
        page, "request_step3.html", 3, status_code=status_code, wizard=wizard, specs=specs,
        insi=any(s.insi for s in specs), serv=any(s.usage is Usage.SERV_SSL for s in specs),
        errors=errors, default_email=wizard.get("actor_email", ""),
    )  # fmt: skip


@router.get("/demander/etape3")
def step3(page: PageDep) -> Response:
    _guard(page)
    wizard = _wizard(page)
    if not wizard.get("kind"):
        return page.redirect("/demander/etape2")
    return _step3(page, wizard, [])


@router.post("/demander/etape3")
async def step3_post(page: PageDep) -> Response:
    _guard(page)
    form = await page.form()
    wizard = _wizard(page)
    if not wizard.get("kind"):
        return page.redirect("/demander/etape2")
    if wizard["kind"] == "new":
        wizard["service_applicatif"] = str(form.get("service_applicatif", ""))
        wizard["dns_names"] = [
            n.strip() for n in str(form.get("dns_names", "")).replace(",", " ").split() if n.strip()
        ]
    wizard["actor_email"] = str(form.get("actor_email", "")).strip()
    wizard["cc_email"] = str(form.get("cc_email", "")).strip()
    errors = []
    for spec in _specs(wizard):
        try:
            check_common_name(
                spec, wizard["service_applicatif"], tuple(wizard.get("dns_names") or ())
            )
        except SceauError as error:
            errors.append(error.message)
            break
    try:
        validate_email(wizard["actor_email"], "Email de l'acteur")
    except SceauError as error:
        errors.append(error.message)
    if wizard["cc_email"]:
        try:
            validate_email(wizard["cc_email"], "L'email d'une personne à informer")
        except SceauError as error:
            errors.append(error.message)
    _save(page, wizard)
    if errors:
        return _step3(page, wizard, errors, status_code=422)
    return page.redirect("/demander/etape4")


# ------------------------------------------------------------------------------ étape 4


def _step4(
    page: Page, wizard: dict[str, Any], errors: list[str], status_code: int = 200
) -> Response:
    return _step_page(
        page, "request_step4.html", 4, status_code=status_code, wizard=wizard,
        specs=_specs(wizard), errors=errors,
    )  # fmt: skip


@router.get("/demander/etape4")
def step4(page: PageDep) -> Response:
    _guard(page)
    wizard = _wizard(page)
    if not wizard.get("actor_email"):
        return page.redirect("/demander/etape3")
    return _step4(page, wizard, [])


async def _read_csr(upload: Any, label: str) -> bytes:
    if not isinstance(upload, UploadFile) or not upload.filename:
        raise SceauError("csr_missing", f"{label}: aucun fichier CSR chargé")
    content = await upload.read(MAX_CSR_BYTES + 1)
    if len(content) > MAX_CSR_BYTES:
        raise SceauError("csr_too_large", f"{label}: fichier trop gros pour une CSR")
    return bytes(content)


@router.post("/demander/etape4")
async def step4_post(page: PageDep) -> Response:
    _guard(page)
    form = await page.form()
    try:
        return await _submit(page, form)
    finally:
        await form.close()  # uploaded CSRs live in temporary files


async def _submit(page: Page, form: Any) -> Response:
    wizard = _wizard(page)
    if not wizard.get("actor_email"):
        return page.redirect("/demander/etape3")
    specs = _specs(wizard)
    online = form.get("source_cle") == "en_ligne"
    password = str(form.get("mot_de_passe", "")) or None
    try:
        csrs: tuple[bytes, ...] = ()
        if online:
            if password != str(form.get("mot_de_passe_confirmation", "")):
                raise SceauError(
                    "pkcs12_password_mismatch",
                    "les deux saisies du mot de passe de protection de la clé sont différentes",
                )
        else:
            csrs = tuple([
                await _read_csr(form.get(f"csr_{index}"), f"CSR pour {spec.usage.value}")
                for index, spec in enumerate(specs)
            ])  # fmt: skip
        if wizard["kind"] == "renewal":
            order = renew_certificate(
                page.services,
                RenewCommand(
                    serial=wizard["renew_serial"], actor_email=wizard["actor_email"],
                    actor=page.actor, cc_email=wizard.get("cc_email") or None,
                    csr=csrs[0] if csrs else None, generate_online=online,
                    pkcs12_password=password if online else None,
                ),
            )  # fmt: skip
        else:
            kind, _, value = str(wizard["choice"]).partition(":")
            order = request_certificates(
                page.services,
                RequestCommand(
                    structure=wizard["structure"], service_applicatif=wizard["service_applicatif"],
                    actor_email=wizard["actor_email"], actor=page.actor, offer=wizard["offer"],
                    usage=value if kind == "usage" else None,
                    bundle=value if kind == "bundle" else None,
                    dns_names=tuple(wizard.get("dns_names") or ()),
                    cc_email=wizard.get("cc_email") or None, csrs=csrs,
                    generate_online=online, pkcs12_password=password if online else None,
                ),
            )  # fmt: skip
    except SceauError as error:
        return _step4(page, wizard, [error.message], status_code=422)
    _save(page, {"done_order": order.id})
    return page.redirect("/demander/finalisation")


@router.get("/demander/finalisation")
def finalisation(page: PageDep) -> Response:
    _guard(page)
    order_id = _wizard(page).get("done_order")
    if not order_id:
        return page.redirect("/demander")
    try:
        order = show_order(page.services, int(order_id), actor=page.actor)
    except SceauError as error:
        raise PortalError(error) from None
    return _step_page(page, "request_done.html", 5, order=order)


@router.post("/demander/terminer")
async def finish(page: PageDep) -> Response:
    await page.form()
    data = page.data()
    data.pop(WIZARD, None)
    page.save(data)
    return page.redirect("/retirer")
