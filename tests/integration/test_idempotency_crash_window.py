"""An order placed by a request that died before recording its Idempotency-Key is found again."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import replace

import pytest
from orders_world import ADMIN_A, CC, EMAIL, P1, PASSWORD, build_world

from sceau.registration.use_cases.request_certificates import RequestCommand, request_certificates
from sceau.web.api.idempotency import request_hash, run_once

STALE = dt.timedelta(seconds=300)


def _command(actor) -> RequestCommand:
    return RequestCommand(
        structure=P1,
        service_applicatif="DMP",
        actor_email=EMAIL,
        cc_email=CC,
        actor=actor,
        usage="SIGN",
        generate_online=True,
        pkcs12_password=PASSWORD,
    )


def _orders(services) -> int:
    with services.unit_of_work() as uow:
        return len(
            uow.orders.search(
                now=services.clock.now(),
                structure_ids=None,
                structure_id=None,
                text=None,
                state=None,
                expires_before=None,
                before_id=None,
                limit=1000,
            )
        )


class Died(BaseException):
    """Stands for the process dying right after the order's commit."""


@pytest.mark.parametrize("how", ["killed", "failed"])
def test_retry_returns_the_order_the_dead_request_placed(services, clock, leaf_keys, how):
    world = build_world(services, leaf_keys)
    actor = world.actor(ADMIN_A)
    command = _command(actor)
    payload = {"same": "body"}
    placed = {}

    def place_then_die(reference):
        placed["view"] = request_certificates(services, replace(command, idempotency_ref=reference))
        raise Died

    before = _orders(services)
    if how == "killed":
        # SIGKILL: nothing runs after the commit, the claim stays open.
        with services.unit_of_work() as uow:
            assert uow.idempotency.claim(actor.label, "key-1", request_hash(payload), clock.now())
            uow.commit()
        reference = hashlib.sha256(f"{actor.label}\x00key-1".encode()).hexdigest()
        placed["view"] = request_certificates(services, replace(command, idempotency_ref=reference))
        clock.advance(STALE + dt.timedelta(seconds=1))
    else:
        with pytest.raises(Died):
            run_once(services, actor, "key-1", payload, place_then_die, stale_after=STALE)
    assert _orders(services) == before + 1

    view, replayed = run_once(
        services,
        actor,
        "key-1",
        payload,
        lambda ref: request_certificates(services, replace(command, idempotency_ref=ref)),
        stale_after=STALE,
    )
    assert replayed and view.id == placed["view"].id
    assert _orders(services) == before + 1  # no second order
