"""Pydantic v2 models of the API's requests and responses (the OpenAPI document's schemas)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Me(_Out):
    kind: str
    label: str
    method: Literal["token", "card"]
    scopes: list[str]
    habilitated_structure_ids: list[int]


class StructureOut(_Out):
    id: int
    idnst: str
    finess_et: str | None
    finess_ej: str | None
    siret: str | None
    raison_sociale: str
    address: str | None
    postcode: str | None
    city: str | None
    department_code: str
    state: str
    category_code: str | None
    category_label: str | None
    is_open: bool


class StructurePage(BaseModel):
    items: list[StructureOut]
    limit: int
    offset: int
    next_offset: int | None


class HabilitationOut(_Out):
    id: int
    structure_id: int
    structure_idnst: str
    person_idnat: str
    administrator_name: str
    administrator_status: str
    email: str | None
    granted_at: dt.datetime
    revoked_at: dt.datetime | None
    revocation_reason: str | None


class BundleProduct(BaseModel):
    usage: str
    insi: bool


class BundleOut(BaseModel):
    name: str
    label: str
    offer: str
    products: list[BundleProduct]


class Terms(BaseModel):
    cgu_version: str
    pc_version: str


class ProductOut(_Out):
    id: int
    order_id: int
    structure_idnst: str
    raison_sociale: str
    usage: str
    service_applicatif: str
    insi: bool
    dns_names: list[str]
    key_source: str
    state: str
    state_label: str
    serial: str | None
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    requested_at: dt.datetime
    issued_at: dt.datetime | None
    retrieved_at: dt.datetime | None
    revoked_at: dt.datetime | None
    revocation_reason: str | None
    renewal_of_id: int | None
    rejection_reason: str | None


class OrderOut(_Out):
    id: int
    structure_idnst: str
    raison_sociale: str
    offer: str
    bundle: str | None
    kind: str
    actor_email: str
    cc_email: str | None
    requested_by: str
    created_at: dt.datetime
    products: list[ProductOut]


class ProductPage(BaseModel):
    items: list[ProductOut]
    next_before_id: int | None = Field(description="pass as before_id to get the next page")


class OrderRequest(BaseModel):
    """DEMANDER: one usage, or a bundle (DMP, INSI, PSC, MSSANTE_BAL, MSSANTE_OPERATEUR)."""

    model_config = ConfigDict(extra="forbid")

    structure: str = Field(min_length=1, max_length=32, description="IDNST or FINESS")
    service_applicatif: str = Field(min_length=1, max_length=256, description="the CN")
    actor_email: str = Field(min_length=3, max_length=254)
    cc_email: str | None = Field(default=None, max_length=254)
    offer: Literal["ORG", "SERV"] = "ORG"
    usage: str | None = Field(default=None, max_length=16)
    bundle: str | None = Field(default=None, max_length=32)
    insi: bool = False
    dns_names: list[str] = Field(default_factory=list, max_length=20)
    csrs: list[str] = Field(
        default_factory=list, max_length=5, description="PEM CSRs, one per certificate"
    )
    generate_online: bool = Field(
        default=False,
        description="let the platform make the key (returned once, as PKCS#12, at retrieval)",
    )
    pkcs12_password: str | None = Field(default=None, max_length=128)


class RetrieveRequest(BaseModel):
    """RETIRER: the revocation code typed twice and acceptance of the CGU and the PC."""

    model_config = ConfigDict(extra="forbid")

    revocation_code: str = Field(min_length=1, max_length=128)
    revocation_code_confirmation: str = Field(min_length=1, max_length=128)
    accept_terms: bool
    cgu_version: str = Field(max_length=32)
    pc_version: str = Field(max_length=32)
    pkcs12_password: str | None = Field(default=None, max_length=128)
    pkcs12_layout: Literal["ans", "aes"] = "ans"


class RetrieveOrderRequest(BaseModel):
    """RETIRER every certificate of an order: one revocation code for all of them, either
    typed twice, or drawn by the platform (``generate_revocation_code``) and returned once."""

    model_config = ConfigDict(extra="forbid")

    revocation_code: str | None = Field(default=None, min_length=1, max_length=128)
    revocation_code_confirmation: str | None = Field(default=None, min_length=1, max_length=128)
    generate_revocation_code: bool = Field(
        default=False,
        description="let the platform draw a 160-bit code, returned once in the answer",
    )
    accept_terms: bool
    cgu_version: str = Field(max_length=32)
    pc_version: str = Field(max_length=32)
    pkcs12_password: str | None = Field(default=None, max_length=128)
    pkcs12_layout: Literal["ans", "aes"] = "ans"


class FileOut(BaseModel):
    name: str
    media_type: str
    content_base64: str


class RetrievedOut(BaseModel):
    serial: str
    product: ProductOut
    files: list[FileOut]


class OrderRetrievedOut(BaseModel):
    order_id: int
    revocation_code: str | None = Field(
        description="the code drawn by the platform (generate_revocation_code): shown this "
        "once, only its hash is kept; null when the code was chosen"
    )
    certificates: list[RetrievedOut]


class RevokeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="unspecified", max_length=32)


class RevocationOut(BaseModel):
    serial: str
    reason: str
    revoked_at: dt.datetime


class RenewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    actor_email: str = Field(min_length=3, max_length=254)
    cc_email: str | None = Field(default=None, max_length=254)
    csr: str = Field(min_length=1, max_length=65536, description="PEM CSR of a new key")


class DashboardOut(BaseModel):
    by_state: dict[str, int]
    expiring: dict[str, int] = Field(description="horizon in days → certificates expiring")
    total: int


def dump(view: Any, model: type[BaseModel]) -> Any:
    return model.model_validate(view, from_attributes=True)
