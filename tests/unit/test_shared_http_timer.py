"""Every request is timed under its route template and its status, a crash as a 500, and
carries its correlation id to the handler (the middlewares are pure ASGI)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shared.http import install_correlation, install_error_handlers
from shared.logging import CORRELATION_HEADER, get_correlation_id
from shared.metrics import Metrics, install_http_metrics


def app_with(metrics: Metrics) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_correlation(app)
    install_http_metrics(app, metrics)

    @app.get("/items/{item}")
    async def item(item: str) -> dict[str, str]:
        return {"item": item, "correlation": get_correlation_id() or ""}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    return app


def count(metrics: Metrics, route: str, status: str) -> float:
    found = metrics.registry.get_sample_value(
        "healthlink_http_request_duration_seconds_count",
        {"service": "svc", "method": "GET", "route": route, "status": status},
    )
    return found or 0.0


async def test_requests_are_timed_by_route_template_and_status() -> None:
    metrics = Metrics("svc")
    transport = httpx.ASGITransport(app=app_with(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ok = await client.get("/items/a", headers={CORRELATION_HEADER: "req-9"})
        await client.get("/items/b")
        missing = await client.get("/nowhere")
        crashed = await client.get("/crash")
    assert ok.json() == {"item": "a", "correlation": "req-9"}  # the handler sees the id
    assert ok.headers[CORRELATION_HEADER] == "req-9"
    assert missing.status_code == 404 and crashed.status_code == 500
    assert count(metrics, "/items/{item}", "200") == 2
    assert count(metrics, "unmatched", "404") == 1
    assert count(metrics, "/crash", "500") == 1
