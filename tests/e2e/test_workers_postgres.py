"""Two ``sceau worker`` processes on PostgreSQL drain 1,000 queued mails into one SMTP
server: every mail delivered exactly once (row locks with SKIP LOCKED)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sceau.notifications import events as ev
from sceau.notifications.mail_catcher import MailCatcher

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.postgres]

COUNT = 1000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_workers_deliver_each_mail_exactly_once(services, clock, db_engine, tmp_path) -> None:
    if db_engine != "postgresql":
        pytest.skip("several workers share the outbox through PostgreSQL row locks")
    with services.unit_of_work() as uow:
        for number in range(COUNT):
            ev.record_event(
                uow,
                ev.CERTIFICATE_AVAILABLE,
                at=clock.now(),
                recipients=[f"admin{number:04d}@editeur.test"],
                payload={"structure": "1750000001", "common_name": f"srv{number}.test"},
            )
        uow.commit()
    port = free_port()
    sceau = Path(sys.executable).with_name("sceau")
    env = {
        **os.environ,
        "SCEAU_HOME": str(tmp_path / "home"),
        "SCEAU_DATABASE_URL": services.settings.resolved_database_url,
        "SCEAU_SMTP_HOST": "127.0.0.1",
        "SCEAU_SMTP_PORT": str(port),
        "SCEAU_OUTBOX_BATCH_SIZE": "20",
        "SCEAU_MAIL_FROM": "sceau <ne-pas-repondre@sceau.test>",
    }
    with MailCatcher("127.0.0.1", port) as catcher:
        workers = [
            subprocess.Popen(
                [str(sceau), "worker", "--until-idle"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for _ in range(2)
        ]
        outputs = [worker.communicate(timeout=240) for worker in workers]
        for worker, (_, err) in zip(workers, outputs, strict=True):
            assert worker.returncode == 0, err.decode()
        mails = catcher.mails()
    recipients = Counter(rcpt for mail in mails for rcpt in mail.rcpt_tos)
    assert len(mails) == COUNT
    assert set(recipients) == {f"admin{n:04d}@editeur.test" for n in range(COUNT)}
    assert set(recipients.values()) == {1}
    caught_ids = Counter(mail.message_id for mail in mails)
    assert len(caught_ids) == COUNT and set(caught_ids.values()) == {1}
    with services.unit_of_work() as uow:
        assert uow.outbox.counts_by_status() == {"sent": COUNT}
        rows = uow.outbox.list(limit=COUNT)
        assert {row.message_id for row in rows} == set(caught_ids)
        owners = Counter(row.locked_by for row in rows)
    assert len(owners) == 2, owners  # both workers took part
