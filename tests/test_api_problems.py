"""A handler that fails in a way nobody planned for still answers in the API's
own shape, and the failure is counted like any other answer."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from revaer_actors import metrics
from revaer_actors.api import Services, create_app

FAKE_FAULT_ROUTE = "/v1/fake-fault-for-tests"


async def _fake_fault_handler(request: web.Request) -> web.Response:
    """A fake: no real route can be made to raise an unexpected error on demand."""
    raise RuntimeError("fake fault injected by the test")


def _counted(route: str, status: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "revaer_http_requests_total", {"route": route, "status": status}
    )
    return value or 0.0


def test_an_unexpected_error_is_a_counted_500_problem(caplog: Any) -> None:
    app = create_app(Services(None, None, None, None, None))  # type: ignore[arg-type]
    app.router.add_get(FAKE_FAULT_ROUTE, _fake_fault_handler)
    before = _counted(FAKE_FAULT_ROUTE, "500")

    async def scenario() -> tuple[int, str, Any]:
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            response = await client.get(FAKE_FAULT_ROUTE)
            return (
                response.status,
                response.content_type,
                await response.json(content_type=None),
            )

    status, content_type, body = asyncio.run(scenario())

    assert status == 500
    assert content_type == "application/problem+json"
    assert body["type"] == "https://revaer.dev/problems/internal-error"
    assert body["status"] == 500 and body["title"] == "Internal server error"
    # The cause stays in the log, not in the answer.
    assert "fake fault" not in body["detail"]
    assert any("fake fault" in (r.exc_text or "") for r in caplog.records)
    assert _counted(FAKE_FAULT_ROUTE, "500") == before + 1
