"""GET /metrics: Prometheus text with the catalog, persistence and HTTP figures."""

from __future__ import annotations

import urllib.request

from tests.daemon import Daemon
from tests.seeder import Seeder


def _metrics(daemon: Daemon) -> str:
    with urllib.request.urlopen(daemon.api_url + "/metrics", timeout=30) as response:
        assert response.headers.get_content_type() == "text/plain"
        return str(response.read().decode())


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_metrics_count_torrents_by_state_and_persistence_batches(
    daemon: Daemon,
) -> None:
    magnet = "magnet:?xt=urn:btih:" + "7" * 40
    daemon.api("POST", "/v1/torrents", {"magnet": magnet, "paused": True})
    daemon.api("GET", "/v1/torrents/" + "8" * 40)

    # A started one sends engine events (its state, its progress) that the
    # persistence actor writes in batches.
    started = "magnet:?xt=urn:btih:" + "6" * 40
    daemon.api("POST", "/v1/torrents", {"magnet": started})
    text = daemon.wait_for(
        lambda: (
            "revaer_database_up 1.0" in (t := _metrics(daemon))
            and _value(t, "revaer_persistence_batch_size_count") > 0
            and t
        ),
        "the first batch to be counted",
    )

    assert 'revaer_torrents{state="paused"} 1.0' in text
    assert 'revaer_torrents{state="seeding"} 0.0' in text
    assert "revaer_persistence_outbox_depth" in text
    # The outbox depth during an outage: tests/test_database_outage.py.
    assert _value(text, "revaer_persistence_batch_size_count") > 0
    assert _value(text, "revaer_persistence_batch_size_sum") > 0
    assert _value(text, "revaer_persistence_commit_seconds_count") > 0
    assert 'revaer_http_requests_total{route="/v1/torrents",status="201"} 2.0' in text
    assert (
        'revaer_http_requests_total{route="/v1/torrents/{id}",status="404"} 1.0' in text
    )


def test_metrics_show_jobs_by_status_and_stage_timings_after_a_download(
    daemon: Daemon, seeder: Seeder
) -> None:
    assert daemon.cli("add", seeder.magnet, "--category", "tv").returncode == 0
    daemon.wait_for(
        lambda: daemon.cli_json("jobs", "--status", "moved"), "the job to be moved"
    )

    text = _metrics(daemon)

    assert 'revaer_fsops_jobs{status="moved"} 1.0' in text
    assert 'revaer_fsops_jobs{status="failed"} 0.0' in text
    assert 'revaer_fsops_stage_seconds_count{stage="plan"} 1.0' in text
    assert 'revaer_transfer_rate_bytes{direction="download"}' in text
    assert "revaer_event_subscribers 0.0" in text
