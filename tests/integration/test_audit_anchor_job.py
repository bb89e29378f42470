"""The worker anchors the audit chain on its own schedule."""

from __future__ import annotations

from sceau.notifications.senders import MemorySender
from sceau.registration.use_cases.audit import verify_audit_chain
from sceau.registration.use_cases.structures import AddStructureCommand, add_structure
from sceau.worker.runner import Runner


def test_worker_job_anchors_the_chain(services):
    add_structure(
        services,
        AddStructureCommand(finess="010002301", raison_sociale="PHARMACIE A", department="01"),
    )
    runner = Runner(services, sender=MemorySender())
    (job,) = [j for j in runner.jobs if j.name == "audit-anchor"]
    assert job.cluster_lease
    assert runner.run_job(job)
    with services.unit_of_work() as uow:
        anchor = uow.audit.latest_anchor()
        head = uow.audit.lock_head()
        assert anchor is not None and anchor.last_event_id == head.last_event_id
    report = verify_audit_chain(services)
    assert report.ok, report
    assert runner.run_job(job)  # nothing new: no second anchor
    with services.unit_of_work() as uow:
        assert uow.audit.latest_anchor().id == anchor.id
