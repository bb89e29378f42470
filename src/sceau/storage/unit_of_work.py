"""The unit of work: one transaction, the repositories bound to it. Services never commit."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from sceau.storage.repositories import (
    AuditRepository,
    AuthorityRepository,
    CertificateRepository,
    OcspRepository,
    RevocationListRepository,
    StructureRepository,
)


class SqlUnitOfWork:
    """``with uow:`` opens a transaction; ``commit()`` ends it; leaving without commit rolls back."""

    def __init__(self, sessions: sessionmaker[Session]):
        self._sessions = sessions
        self.session: Session

    def __enter__(self) -> SqlUnitOfWork:
        self.session = self._sessions()
        self.authorities = AuthorityRepository(self.session)
        self.structures = StructureRepository(self.session)
        self.certificates = CertificateRepository(self.session)
        self.crls = RevocationListRepository(self.session)
        self.ocsp = OcspRepository(self.session)
        self.audit = AuditRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back what was not committed and detaches objects *without* expiring
        # them (rollback() would), so values read inside the unit stay readable after it.
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()
