"""What the registration layer needs from the outside, as Protocols (storage implements them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sceau.pki.clock import Clock
from sceau.pki.signing.keyring import KeyRing


class UnitOfWork(Protocol):
    """A transaction with repositories: ``authorities``, ``structures``, ``certificates``,
    ``crls``, ``ocsp``, ``audit`` (see ``sceau.storage.unit_of_work``)."""

    authorities: Any
    structures: Any
    certificates: Any
    crls: Any
    ocsp: Any
    audit: Any

    def __enter__(self) -> UnitOfWork: ...

    def __exit__(self, *exc: object) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class Services(Protocol):
    """The object graph a use case runs in (built by ``sceau.bootstrap``)."""

    @property
    def clock(self) -> Clock: ...

    @property
    def keyring(self) -> KeyRing: ...

    def unit_of_work(self) -> Any: ...
