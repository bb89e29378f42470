"""Machine-read feeds: Prometheus ``/metrics`` and the secret ``.ics`` calendar URLs."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from sceau.notifications.calendar import calendar_feed
from sceau.notifications.metrics import CONTENT_TYPE, render_metrics

router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics(request: Request) -> Response:
    container = request.app.state.container
    with container.unit_of_work() as uow:
        body = render_metrics(uow, container.clock.now())
    return Response(body, media_type=CONTENT_TYPE)


@router.get("/calendar/{token}.ics")
def calendar(token: str, request: Request) -> Response:
    container = request.app.state.container
    with container.unit_of_work() as uow:
        body = calendar_feed(
            uow,
            token,
            now=container.clock.now(),
            portal_url=container.settings.effective_portal_url,
        )
        if body is None:
            raise HTTPException(404, "calendrier inconnu ou révoqué")
        uow.commit()
    return Response(
        body,
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300"},
    )
