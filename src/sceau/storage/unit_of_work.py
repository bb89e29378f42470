"""The unit of work: one transaction, the repositories bound to it. Services never commit."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker

from sceau.storage.api_repositories import ApiTokenRepository, IdempotencyRepository
from sceau.storage.notification_repositories import (
    CalendarTokenRepository,
    ExpiryRepository,
    JobLeaseRepository,
    MetricsRepository,
    OutboxRepository,
)
from sceau.storage.order_repositories import OrderRepository
from sceau.storage.registry_repositories import (
    CardRepository,
    ContractRepository,
    EventRepository,
    HabilitationRepository,
    LegalRepresentativeRepository,
    PersonRepository,
    VendorRepository,
)
from sceau.storage.repositories import (
    AuditRepository,
    AuthorityRepository,
    CertificateRepository,
    OcspRepository,
    RevocationListRepository,
    StructureRepository,
)
from sceau.storage.session_repositories import WebSessionRepository


class SqlUnitOfWork:
    """``with uow:`` opens a transaction; ``commit()`` ends it; no commit means rollback."""

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
        self.outbox = OutboxRepository(self.session)
        self.expiry = ExpiryRepository(self.session)
        self.job_leases = JobLeaseRepository(self.session)
        self.calendar_tokens = CalendarTokenRepository(self.session)
        self.metrics = MetricsRepository(self.session)
        self.vendors = VendorRepository(self.session)
        self.contracts = ContractRepository(self.session)
        self.persons = PersonRepository(self.session)
        self.cards = CardRepository(self.session)
        self.legal_representatives = LegalRepresentativeRepository(self.session)
        self.habilitations = HabilitationRepository(self.session)
        self.events = EventRepository(self.session)
        self.api_tokens = ApiTokenRepository(self.session)
        self.idempotency = IdempotencyRepository(self.session)
        self.web_sessions = WebSessionRepository(self.session)
        self.orders = OrderRepository(self.session)
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
