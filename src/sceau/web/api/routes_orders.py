"""Orders (DEMANDER, SUIVRE) and certificates (RETIRER, download, RÉVOQUER, renew)."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from sceau.pki.errors import ErrorKind, SceauError
from sceau.registration.use_cases.renew_certificate import RenewCommand, renew_certificate
from sceau.registration.use_cases.request_certificates import (
    RequestCommand,
    request_certificates,
)
from sceau.registration.use_cases.retrieve_certificate import (
    CertificateFiles,
    RetrieveCommand,
    RetrieveOrderCommand,
    download_certificate,
    retrieve_certificate,
    retrieve_order,
)
from sceau.registration.use_cases.revoke_product import RevokeProductCommand, revoke_product
from sceau.registration.use_cases.track_certificates import (
    TrackQuery,
    show_order,
    show_product,
    track_products,
)
from sceau.web.api.idempotency import run_once
from sceau.web.api.problems import responses
from sceau.web.api.schemas import (
    FileOut,
    OrderOut,
    OrderRequest,
    OrderRetrievedOut,
    ProductOut,
    ProductPage,
    RenewRequest,
    RetrievedOut,
    RetrieveOrderRequest,
    RetrieveRequest,
    RevocationOut,
    RevokeRequest,
)
from sceau.web.api.security import Principal, require, services_of

router = APIRouter(responses=responses(401, 403, 404, 409, 422, 429))
Reader = Annotated[Principal, Depends(require("read"))]
Orderer = Annotated[Principal, Depends(require("order"))]
Revoker = Annotated[Principal, Depends(require("revoke"))]
Serial = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^(0x)?[0-9A-Fa-f:]+$")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=128,
        description="client-chosen key: a retried request never orders twice",
    ),
]
STATES = Literal["requested", "issued", "retrieved", "expired", "revoked", "rejected", "cancelled"]
MEDIA = {
    "pem": ("application/x-pem-file", ".pem"),
    "der": ("application/pkix-cert", ".cer"),
    "p7b": ("application/x-pkcs7-certificates", ".p7b"),
}


def _stale(request: Request) -> dt.timedelta:
    return dt.timedelta(seconds=request.app.state.api_settings.idempotency_stale_seconds)


def _order_response(view: object, replayed: bool) -> JSONResponse:
    body = OrderOut.model_validate(view).model_dump(mode="json")
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(body, status_code=200 if replayed else 201, headers=headers)


@router.post(
    "/orders",
    tags=["commandes"],
    status_code=201,
    response_model=OrderOut,
    responses={200: {"model": OrderOut, "description": "replay of an Idempotency-Key"}},
    summary="DEMANDER: order one certificate or a usage bundle, with one CSR per certificate",
)
def create_order(
    request: Request, body: OrderRequest, principal: Orderer, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    services = services_of(request)
    command = RequestCommand(
        structure=body.structure,
        service_applicatif=body.service_applicatif,
        actor_email=body.actor_email,
        actor=principal.actor,
        offer=body.offer,
        usage=body.usage,
        bundle=body.bundle,
        insi=body.insi,
        dns_names=tuple(body.dns_names),
        cc_email=body.cc_email,
        csrs=tuple(c.encode() for c in body.csrs),
        generate_online=body.generate_online,
        pkcs12_password=body.pkcs12_password,
    )
    view, replayed = run_once(
        services,
        principal.actor,
        idempotency_key,
        body.model_dump(mode="json"),
        lambda ref: request_certificates(services, replace(command, idempotency_ref=ref)),
        stale_after=_stale(request),
    )
    return _order_response(view, replayed)


@router.get(
    "/orders",
    tags=["commandes"],
    response_model=ProductPage,
    summary="SUIVRE: ordered certificates, newest first, filtered and paginated",
)
def list_orders(
    request: Request,
    principal: Reader,
    structure: Annotated[str | None, Query(max_length=32, pattern=r"^[0-9A-Za-z]+$")] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    state: STATES | None = None,
    expires_within_days: Annotated[int | None, Query(ge=1, le=1098)] = None,
    before_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProductPage:
    page = track_products(
        services_of(request),
        TrackQuery(
            structure=structure,
            text=q,
            state=state,
            expires_within_days=expires_within_days,
            before_id=before_id,
            limit=limit,
        ),
        principal.actor,
    )
    return ProductPage(
        items=[ProductOut.model_validate(p) for p in page.items],
        next_before_id=page.next_before_id,
    )


@router.get("/orders/{order_id}", tags=["commandes"], response_model=OrderOut, summary="One order")
def get_order(
    request: Request, principal: Reader, order_id: Annotated[int, Path(ge=1, le=2**31 - 1)]
) -> OrderOut:
    return OrderOut.model_validate(show_order(services_of(request), order_id, principal.actor))


@router.post(
    "/orders/{order_id}/retrieve",
    tags=["commandes"],
    response_model=OrderRetrievedOut,
    summary="RETIRER every certificate of an order at once, with one revocation code "
    "(chosen, or drawn by the platform and returned once); all or none",
)
def retrieve_whole_order(
    request: Request,
    principal: Orderer,
    order_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    body: RetrieveOrderRequest,
) -> OrderRetrievedOut:
    outcome = retrieve_order(
        services_of(request),
        RetrieveOrderCommand(
            order_id=order_id,
            revocation_code=body.revocation_code,
            revocation_code_confirmation=body.revocation_code_confirmation,
            generate_revocation_code=body.generate_revocation_code,
            accept_terms=body.accept_terms,
            cgu_version=body.cgu_version,
            pc_version=body.pc_version,
            pkcs12_password=body.pkcs12_password,
            pkcs12_layout=body.pkcs12_layout,
            actor=principal.actor,
            source=request.client.host if request.client else None,
        ),
    )
    return OrderRetrievedOut(
        order_id=outcome.order_id,
        revocation_code=outcome.revocation_code,
        certificates=[
            _retrieved(files, ProductOut.model_validate(product))
            for files, product in zip(outcome.certificates, outcome.products, strict=True)
        ],
    )


def _retrieved(files: CertificateFiles, product: ProductOut) -> RetrievedOut:
    return RetrievedOut(
        serial=files.serial,
        product=product,
        files=[
            FileOut(
                name=f.name,
                media_type=f.media_type,
                content_base64=base64.b64encode(f.content).decode(),
            )
            for f in files.files
        ],
    )


@router.get(
    "/certificates/{serial}",
    tags=["certificats"],
    response_model=ProductOut,
    summary="An ordered certificate and its state",
)
def get_certificate(request: Request, principal: Reader, serial: Serial) -> ProductOut:
    return ProductOut.model_validate(show_product(services_of(request), serial, principal.actor))


@router.post(
    "/certificates/{serial}/retrieve",
    tags=["certificats"],
    response_model=RetrievedOut,
    summary="RETIRER: choose the revocation code, accept CGU and PC, get the files",
)
def retrieve(
    request: Request, principal: Orderer, serial: Serial, body: RetrieveRequest
) -> RetrievedOut:
    services = services_of(request)
    files = retrieve_certificate(
        services,
        RetrieveCommand(
            serial=serial,
            revocation_code=body.revocation_code,
            revocation_code_confirmation=body.revocation_code_confirmation,
            accept_terms=body.accept_terms,
            cgu_version=body.cgu_version,
            pc_version=body.pc_version,
            pkcs12_password=body.pkcs12_password,
            pkcs12_layout=body.pkcs12_layout,
            actor=principal.actor,
            source=request.client.host if request.client else None,
        ),
    )
    product = show_product(services, files.serial, principal.actor)
    return _retrieved(files, ProductOut.model_validate(product))


@router.get(
    "/certificates/{serial}/download",
    tags=["certificats"],
    response_class=Response,
    responses={
        200: {
            "description": "the certificate (PEM: leaf then chain; DER: leaf; P7B: leaf+chain)",
            "content": {
                "application/x-pem-file": {"schema": {"type": "string"}},
                "application/pkix-cert": {"schema": {"type": "string", "format": "binary"}},
                "application/x-pkcs7-certificates": {
                    "schema": {"type": "string", "format": "binary"}
                },
            },
        }
    },
    summary="Download as PEM, DER or P7B (PKCS#12: only at retrieval of an online-made key)",
)
def download(
    request: Request,
    principal: Reader,
    serial: Serial,
    format: Literal["pem", "der", "p7b", "p12"] = "pem",
) -> Response:
    if format == "p12":
        raise SceauError(
            "pkcs12_unavailable",
            "PKCS#12: la plateforme ne détient jamais une clé générée chez vous; il est produit "
            "localement par `sceau client install` (ou remis une seule fois au retrait d'une "
            "clé générée en ligne)",
            ErrorKind.CONFLICT,
        )
    files = download_certificate(services_of(request), serial, principal.actor)
    media_type, suffix = MEDIA[format]
    chosen = next(f for f in files.files if f.name.endswith(suffix))
    return Response(
        chosen.content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{chosen.name}"'},
    )


@router.post(
    "/certificates/{serial}/revoke",
    tags=["certificats"],
    response_model=RevocationOut,
    summary="RÉVOQUER (final); CRL and OCSP are republished at once",
)
def revoke(
    request: Request, principal: Revoker, serial: Serial, body: RevokeRequest
) -> RevocationOut:
    services = services_of(request)
    outcome = revoke_product(
        services,
        RevokeProductCommand(
            serial=serial,
            reason=body.reason,
            actor=principal.actor,
            source=request.client.host if request.client else None,
        ),
    )
    from sceau.registration.use_cases.revocation_status import publish_after_revocation

    publish_after_revocation(services, outcome.authority_slug)
    return RevocationOut(
        serial=outcome.serial, reason=outcome.reason, revoked_at=outcome.revoked_at
    )


@router.post(
    "/certificates/{serial}/renew",
    tags=["certificats"],
    status_code=201,
    response_model=OrderOut,
    responses={200: {"model": OrderOut, "description": "replay of an Idempotency-Key"}},
    summary="Renew while valid, with the CSR of a new key",
)
def renew(
    request: Request,
    principal: Orderer,
    serial: Serial,
    body: RenewRequest,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    services = services_of(request)
    command = RenewCommand(
        serial=serial,
        actor_email=body.actor_email,
        cc_email=body.cc_email,
        actor=principal.actor,
        csr=body.csr.encode(),
    )
    view, replayed = run_once(
        services,
        principal.actor,
        idempotency_key,
        {"renew": serial, **body.model_dump(mode="json")},
        lambda ref: renew_certificate(services, replace(command, idempotency_ref=ref)),
        stale_after=_stale(request),
    )
    return _order_response(view, replayed)
