"""Read-only registry endpoints: who am I, structures, habilitations, bundles, terms, dashboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from sceau.registration.orders.bundles import BUNDLES, Bundle, offer_of
from sceau.registration.use_cases.habilitations import list_habilitations
from sceau.registration.use_cases.retrieve_certificate import (
    CURRENT_CGU_VERSION,
    CURRENT_PC_VERSION,
)
from sceau.registration.use_cases.structures import list_structures, show_structure
from sceau.registration.use_cases.track_certificates import dashboard
from sceau.web.api.problems import responses
from sceau.web.api.schemas import (
    BundleOut,
    BundleProduct,
    DashboardOut,
    HabilitationOut,
    Me,
    StructureOut,
    StructurePage,
    Terms,
)
from sceau.web.api.security import Principal, require, services_of

router = APIRouter(tags=["registre"], responses=responses(401, 403, 422, 429))
Reader = Annotated[Principal, Depends(require("read"))]
Reference = Annotated[str, Query(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")]


@router.get("/me", response_model=Me, summary="Who the credentials stand for")
def me(principal: Reader) -> Me:
    actor = principal.actor
    return Me(
        kind=actor.kind.value,
        label=actor.label,
        method=principal.method,  # type: ignore[arg-type]
        scopes=sorted(principal.scopes),
        habilitated_structure_ids=sorted(actor.habilitated_structure_ids),
    )


@router.get("/structures", response_model=StructurePage, summary="Structures you hold rights on")
def structures(
    request: Request,
    principal: Reader,
    search: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> StructurePage:
    views = list_structures(
        services_of(request), principal.actor, search, limit=limit + 1, offset=offset
    )
    items = [StructureOut.model_validate(v) for v in views[:limit]]
    return StructurePage(
        items=items,
        limit=limit,
        offset=offset,
        next_offset=offset + limit if len(views) > limit else None,
    )


@router.get(
    "/structures/{reference}",
    response_model=StructureOut,
    responses=responses(404),
    summary="One structure by IDNST or FINESS",
)
def structure(
    request: Request,
    principal: Reader,
    reference: Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z]+$")],
) -> StructureOut:
    return StructureOut.model_validate(
        show_structure(services_of(request), reference, principal.actor)
    )


@router.get(
    "/habilitations",
    response_model=list[HabilitationOut],
    responses=responses(404),
    summary="Habilitations of technical administrators, on your structures",
)
def habilitations(
    request: Request,
    principal: Reader,
    structure: Reference | None = None,
    include_revoked: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[HabilitationOut]:
    views = list_habilitations(
        services_of(request),
        principal.actor,
        structure=structure,
        include_revoked=include_revoked,
        limit=limit,
    )
    return [HabilitationOut.model_validate(v) for v in views]


@router.get("/bundles", response_model=list[BundleOut], summary="Usage bundles and their products")
def bundles(principal: Reader) -> list[BundleOut]:
    return [
        BundleOut(
            name=bundle.value,
            label=bundle.label,
            offer=offer_of(bundle).value,
            products=[BundleProduct(usage=s.usage.value, insi=s.insi) for s in BUNDLES[bundle]],
        )
        for bundle in Bundle
    ]


@router.get("/terms", response_model=Terms, summary="CGU and PC versions to accept at retrieval")
def terms(principal: Reader) -> Terms:
    return Terms(cgu_version=CURRENT_CGU_VERSION, pc_version=CURRENT_PC_VERSION)


@router.get(
    "/dashboard",
    response_model=DashboardOut,
    responses=responses(404),
    summary="Counts by state and certificates expiring soon",
)
def dashboard_counts(
    request: Request, principal: Reader, structure: Reference | None = None
) -> DashboardOut:
    counts = dashboard(services_of(request), principal.actor, structure)
    return DashboardOut(
        by_state={str(k): v for k, v in counts.by_state.items()},
        expiring={str(k): v for k, v in counts.expiring.items()},
        total=counts.total,
    )
