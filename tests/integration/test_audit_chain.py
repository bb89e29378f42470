"""The tamper-evident audit log: tampering by direct SQL is detected at the right event,
anchors are signed by the audit key and verified, concurrent appends keep one chain."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from sceau.registration.audit_chain import ChainedEvent, escape_for_display, event_hash
from sceau.registration.use_cases.audit import (
    anchor_audit_chain,
    ensure_audit_key,
    export_audit_public_keys,
    verify_audit_chain,
)

HOSTILE = "robert\n2026-01-01 00:00:00Z\tsuccess\tca.create\x1b[31m\u2028"


def append(services, count: int, *, start: int = 0, actor: str = "operator") -> None:
    for index in range(start, start + count):
        with services.unit_of_work() as uow:
            uow.audit.record(
                at=services.clock.now() + dt.timedelta(seconds=index),
                actor=actor,
                action="test.event",
                outcome="success",
                target=f"T{index}",
                details={"n": index, "z": [1, "a"], "a": {"y": None, "b": True}},
                source="192.0.2.7",
            )
            uow.commit()


def sql(services, statement: str, **params) -> None:
    with services.engine.begin() as connection:
        connection.execute(text(statement), params)


def problems(services, **kwargs) -> list[tuple[int | None, str]]:
    report = verify_audit_chain(services, **kwargs)
    return [(p.event_id, p.kind) for p in report.problems]


@pytest.fixture
def audit_key(services) -> int:
    """A small audit key (RSA-2048) so that tests stay fast; production makes RSA-3072."""
    return ensure_audit_key(services, key_size=2048)


def test_intact_chain_verifies_and_links_events(services):
    append(services, 5)
    report = verify_audit_chain(services)
    assert report.ok, report.problems
    assert (report.events, report.first_event_id, report.last_event_id) == (5, 1, 5)
    with services.unit_of_work() as uow:
        events = list(uow.audit.chain())
        assert uow.audit.head() == (5, events[-1].event_hash)
    assert events[0].prev_hash == "0" * 64
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.event_hash
        assert event_hash(after) == after.event_hash


def test_batched_and_repeated_appends_in_one_transaction_make_the_same_chain(services):
    """``record_many`` and several ``record`` calls in one transaction (the head locked once)
    link exactly like separate transactions, and a later transaction continues the chain."""
    now = services.clock.now()
    with services.unit_of_work() as uow:
        uow.audit.record(at=now, actor="a", action="test.one", outcome="success")
        uow.audit.record_many(
            [
                {
                    "at": now,
                    "actor": "b",
                    "action": "test.many",
                    "outcome": "success",
                    "target": f"T{i}",
                }
                for i in range(3)
            ]
        )
        uow.audit.record(at=now, actor="c", action="test.one", outcome="success")
        uow.commit()
    with services.unit_of_work() as uow:
        uow.audit.record(at=now, actor="d", action="test.one", outcome="success")
        uow.rollback()  # nothing of this transaction stays, the next one relocks the head
    append(services, 2)
    report = verify_audit_chain(services)
    assert report.ok, report.problems
    assert (report.events, report.first_event_id, report.last_event_id) == (7, 1, 7)
    with services.unit_of_work() as uow:
        actors = [event.actor for event in uow.audit.chain()]
    assert actors == ["a", "b", "b", "b", "c", "operator", "operator"]


def test_edited_event_is_named(services):
    append(services, 5)
    sql(services, "UPDATE audit_events SET outcome = 'refused' WHERE id = 3")
    assert problems(services) == [(3, "edited")]


def test_edited_event_with_recomputed_hash_breaks_the_next_link(services):
    append(services, 5)
    with services.unit_of_work() as uow:
        third = next(e for e in uow.audit.chain() if e.id == 3)
    forged = ChainedEvent(**{**third.__dict__, "actor": "someone else", "event_hash": ""})
    sql(
        services,
        "UPDATE audit_events SET actor = :a, event_hash = :h WHERE id = 3",
        a="someone else",
        h=event_hash(forged),
    )
    found = problems(services)
    assert found and found[0][0] == 4  # event 3 now hashes right; event 4 no longer links to it


def test_deleted_event_is_named(services):
    append(services, 5)
    sql(services, "DELETE FROM audit_events WHERE id = 3")
    assert problems(services)[0] == (3, "deleted")


def test_deleted_last_event_is_named(services):
    append(services, 5)
    sql(services, "DELETE FROM audit_events WHERE id = 5")
    assert problems(services) == [(5, "deleted")]


def test_inserted_event_is_named(services):
    append(services, 5)
    sql(
        services,
        "INSERT INTO audit_events (id, at, actor, action, target, outcome, details, source, "
        "prev_hash, event_hash) VALUES (6, :at, 'intruder', 'ca.create', NULL, 'success', NULL, "
        "NULL, :p, :h)",
        at=services.clock.now(),
        p="1" * 64,
        h="2" * 64,
    )
    found = problems(services)
    assert found[0][0] == 6 and {kind for _, kind in found} >= {"edited", "inserted"}


def test_correctly_hashed_insertion_after_the_head_is_named(services):
    append(services, 3)
    with services.unit_of_work() as uow:
        last = list(uow.audit.chain())[-1]
    at = services.clock.now() + dt.timedelta(minutes=1)
    forged = ChainedEvent(
        4, at, "intruder", "ca.create", None, "success", None, None, last.event_hash
    )
    sql(
        services,
        "INSERT INTO audit_events (id, at, actor, action, target, outcome, details, source, "
        "prev_hash, event_hash) VALUES (4, :at, 'intruder', 'ca.create', NULL, 'success', NULL, "
        "NULL, :p, :h)",
        at=at,
        p=last.event_hash,
        h=event_hash(forged),
    )
    assert problems(services) == [(4, "inserted")]


def test_swapped_events_are_named(services):
    append(services, 5)
    sql(services, "UPDATE audit_events SET id = 1000 WHERE id = 2")
    sql(services, "UPDATE audit_events SET id = 2 WHERE id = 4")
    sql(services, "UPDATE audit_events SET id = 4 WHERE id = 1000")
    found = problems(services)
    assert found[0][0] == 2
    assert (4, "reordered") in found


def test_anchor_signs_the_chain_end_and_verifies(services, audit_key):
    assert anchor_audit_chain(services) is None  # empty log: nothing to anchor
    append(services, 4)
    first = anchor_audit_chain(services)
    assert first is not None and first.last_event_id == 4 and first.key_id == audit_key
    assert anchor_audit_chain(services) is None  # nothing new since
    append(services, 2, start=4)
    second = anchor_audit_chain(services)
    assert second is not None and second.last_event_id == 6
    report = verify_audit_chain(services)
    assert report.ok, report.problems
    assert report.anchors == 2 and not report.notes


def test_rewritten_chain_is_caught_by_the_anchor(services, audit_key):
    """Someone with database access rewrites event 2 and recomputes every later hash and the
    head: the chain itself is consistent again, but the signed anchor is not."""
    append(services, 5)
    anchored = anchor_audit_chain(services)
    assert anchored is not None
    with services.unit_of_work() as uow:
        events = list(uow.audit.chain())
    previous = events[0].event_hash
    with services.engine.begin() as connection:
        for event in events[1:]:
            actor = "forger" if event.id == 2 else event.actor
            rebuilt = ChainedEvent(
                **{**event.__dict__, "actor": actor, "prev_hash": previous, "event_hash": ""}
            )
            digest = event_hash(rebuilt)
            connection.execute(
                text("UPDATE audit_events SET actor=:a, prev_hash=:p, event_hash=:h WHERE id=:i"),
                {"a": actor, "p": previous, "h": digest, "i": event.id},
            )
            previous = digest
        connection.execute(text("UPDATE audit_chain_head SET last_hash = :h"), {"h": previous})
    assert problems(services) == [(5, "anchor")]


def test_forged_anchor_signature_and_swapped_key_are_caught(services, audit_key):
    append(services, 3)
    anchor_audit_chain(services)
    pinned = export_audit_public_keys(services)
    assert b"BEGIN PUBLIC KEY" in pinned
    assert verify_audit_chain(services, pinned_public_keys=[pinned]).ok
    sql(services, "UPDATE audit_anchors SET signature = :s", s=b"\x00" * 256)
    assert problems(services) == [(3, "anchor")]

    # A forger who also replaces the recorded public key is stopped by the keyring check
    # and by the pinned key.
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from sceau.registration.audit_chain import anchor_payload

    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with services.unit_of_work() as uow:
        anchor = uow.audit.anchors()[0]
    signature = forger.sign(
        anchor_payload(anchor.last_event_id, anchor.chain_hash, anchor.at),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    der = forger.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    sql(services, "UPDATE audit_anchors SET signature = :s", s=signature)
    sql(services, "UPDATE audit_keys SET public_key_der = :d", d=der)
    report = verify_audit_chain(services)
    assert [(p.event_id, p.kind) for p in report.problems] == [(3, "anchor")]
    assert any("not that of" in note for note in report.notes)
    assert problems(services, pinned_public_keys=[pinned], check_key_files=False) == [(3, "anchor")]


def test_concurrent_appends_keep_one_chain(services):
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        try:
            barrier.wait()
            append(services, 25, actor=name)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"thread-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    report = verify_audit_chain(services)
    assert report.ok, report.problems
    assert report.events == 50 and report.last_event_id == 50


def test_user_text_is_stored_as_data_and_printed_on_one_line(services, monkeypatch):
    with services.unit_of_work() as uow:
        uow.audit.record(
            at=services.clock.now(),
            actor=HOSTILE + "\x00",
            action="habilitation.request",
            outcome="refused",
            target="x" * 1000,
            details={"reason": HOSTILE},
            source="203.0.113.9",
        )
        uow.commit()
    with services.unit_of_work() as uow:
        stored = uow.audit.list(limit=1)[0]
        assert stored.actor.startswith(HOSTILE) and "\x00" not in stored.actor
        assert stored.details == {"reason": HOSTILE} and len(stored.target) == 256
    assert verify_audit_chain(services).ok
    assert "\n" not in escape_for_display(HOSTILE) and "\x1b" not in escape_for_display(HOSTILE)

    import sceau.cli.common
    from sceau.cli.main import app

    monkeypatch.setattr(sceau.cli.common, "_container", services)
    listed = CliRunner().invoke(app, ["audit", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert len(lines) == 1 and "\x1b" not in listed.stdout and "\u2028" not in listed.stdout
    as_json = CliRunner().invoke(app, ["audit", "list", "--json"])
    assert len(as_json.stdout.splitlines()) == 1

    verified = CliRunner().invoke(app, ["audit", "verify", "--no-key-files"])
    assert verified.exit_code == 0 and "intègre" in verified.stdout
    sql(services, "UPDATE audit_events SET details = NULL WHERE id = 1")
    broken = CliRunner().invoke(app, ["audit", "verify", "--no-key-files"])
    assert broken.exit_code == 8
    assert "événement 1\tedited" in broken.stderr
