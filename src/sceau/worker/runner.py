"""The worker loop: runs each job at its interval; cluster-wide jobs under a DB lease.

``sceau worker`` runs it in the foreground; ``sceau serve`` runs it in a thread (embedded
mode). Jobs that are safe everywhere at once (event expansion, outbox delivery: row locks
with SKIP LOCKED) run on every worker; jobs meant to run once per cluster (expiry scan,
CRL/OCSP refresh) first take a lease in ``job_leases`` (an UPDATE guarded by
``expires_at <= now``), so two workers never run them at the same time. Each run's duration
and outcome are recorded there for ``/metrics``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sceau.notifications.senders import Sender
from sceau.worker import jobs_notifications as jobs

log = logging.getLogger(__name__)


@dataclass
class Job:
    name: str
    run: Callable[[], object]
    interval: float
    cluster_lease: bool = False
    lease_seconds: float = 600.0
    next_run: float = 0.0


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Runner:
    container: Any
    sender: Sender | None = None
    owner: str = field(default_factory=worker_identity)
    interval: float | None = None
    jobs: list[Job] = field(default_factory=list)

    def __post_init__(self) -> None:
        settings = self.container.settings
        self.interval = self.interval or settings.worker_interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if not self.jobs:
            self.jobs = self.default_jobs()

    def default_jobs(self) -> list[Job]:
        settings = self.container.settings
        c = self.container
        every = float(self.interval or settings.worker_interval_seconds)
        return [
            Job("events", lambda: jobs.expand_events_job(c), every),
            Job("outbox", lambda: jobs.deliver_outbox_job(c, self.owner, self.sender), every),
            Job(
                "expiry-scan",
                lambda: jobs.expiry_scan_job(c),
                settings.expiry_scan_interval_seconds,
                cluster_lease=True,
            ),
            Job(
                "revocation-status",
                lambda: jobs.revocation_status_job(c),
                settings.revocation_interval_seconds,
                cluster_lease=True,
            ),
            Job(
                "audit-anchor",
                lambda: jobs.audit_anchor_job(c),
                settings.audit_anchor_interval_seconds,
                cluster_lease=True,
            ),
        ]

    # --------------------------------------------------------------- one job, one pass

    def _now(self) -> dt.datetime:
        return self.container.clock.now()  # type: ignore[no-any-return]

    def run_job(self, job: Job) -> bool:
        """Run ``job`` now (taking its lease if it needs one); False when another holds it."""
        if job.cluster_lease:
            with self.container.unit_of_work() as uow:
                now = self._now()
                until = now + dt.timedelta(seconds=job.lease_seconds)
                acquired = uow.job_leases.acquire(job.name, self.owner, now=now, until=until)
                uow.commit()
            if not acquired:
                return False
        started_at = self._now()
        started = time.perf_counter()
        error: str | None = None
        try:
            job.run()
        except Exception as exc:  # a failing job never kills the worker
            error = f"{type(exc).__name__}: {exc}"
            log.exception("job %s failed", job.name)
        duration = time.perf_counter() - started
        with self.container.unit_of_work() as uow:
            uow.job_leases.record_run(
                job.name, started_at=started_at, duration=duration, error=error
            )
            if job.cluster_lease:
                uow.job_leases.release(job.name, self.owner, now=self._now())
            uow.commit()
        return True

    def run_once(self) -> None:
        """Every job once, in order (tests, ``sceau worker --once``)."""
        for job in self.jobs:
            self.run_job(job)

    def run_until_idle(self, max_rounds: int = 10_000) -> None:
        """Expand events and deliver until the outbox has nothing due (``--until-idle``)."""
        for _ in range(max_rounds):
            jobs.expand_events_job(self.container)
            report = jobs.deliver_outbox_job(self.container, self.owner, self.sender)
            if report.claimed == 0:
                return

    # --------------------------------------------------------------------- the loop

    def loop(self) -> None:
        while not self._stop.is_set():
            tick = time.monotonic()
            for job in self.jobs:
                if self._stop.is_set():
                    break
                if tick >= job.next_run:
                    self.run_job(job)
                    job.next_run = time.monotonic() + job.interval
            self._stop.wait(min(float(self.interval or 1.0), 1.0))

    def start(self) -> Runner:
        self._thread = threading.Thread(target=self.loop, name="sceau-worker", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()


@dataclass
class Embedded:
    runner: Runner | None = None
    catcher_started: bool = False


def start_embedded(container: Any) -> Embedded:
    """What ``sceau serve`` runs beside the web app: the mail catcher on embedded defaults
    (no ``SCEAU_SMTP_HOST``), and the runner thread when ``in_process_worker`` is set."""
    from sceau.notifications.mail_catcher import start_default_catcher

    settings = container.settings
    embedded = Embedded()
    if settings.mail_catcher_enabled:
        try:
            start_default_catcher("127.0.0.1", settings.mail_catcher_port)
            embedded.catcher_started = True
        except (OSError, RuntimeError) as error:
            log.warning(
                "mail catcher not started on port %s: %s", settings.mail_catcher_port, error
            )
    if settings.in_process_worker:
        embedded.runner = Runner(container).start()
    return embedded


def stop_embedded(embedded: Embedded) -> None:
    from sceau.notifications.mail_catcher import stop_default_catcher

    if embedded.runner is not None:
        embedded.runner.stop()
    if embedded.catcher_started:
        stop_default_catcher()
