"""Live events: what a dashboard or `revaer tail` sees, and what it gets back
after a dropped connection."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import sys
import time
from typing import Any

from revaer_actors.events import QUEUE_SIZE, EventHub
from tests.daemon import Daemon
from tests.seeder import Seeder
from tests.sse_client import EventClient


def _magnet() -> str:
    return f"magnet:?xt=urn:btih:{secrets.token_hex(20)}&dn=event-test"


def test_a_download_tells_its_whole_story_in_order(
    daemon: Daemon, seeder: Seeder
) -> None:
    client = EventClient(daemon)
    try:
        assert client.response.status == 200
        assert client.response.getheader("Content-Type") == "text/event-stream"
        added = daemon.cli("add", seeder.magnet, "--category", "tv")
        assert added.returncode == 0, added.stderr
        # The move may finish before the first status tick says "seeding".
        client.wait_for(
            lambda: (
                {"fsops_completed", "progress"} <= set(client.kinds(seeder.info_hash))
                and any(e.get("state") == "seeding" for e in client.events)
            ),
            "fsops_completed, progress and state_changed to seeding",
        )
    finally:
        client.close()

    kinds = client.kinds(seeder.info_hash)
    assert kinds[0] == "torrent_added"
    # A magnet has no file list until the metadata arrives from the seeder.
    assert kinds.index("files_discovered") < kinds.index("completed")
    discovered = next(e for e in client.events if e["kind"] == "files_discovered")
    files = [p for p in seeder.payload.rglob("*") if p.is_file()]
    assert discovered["files"] == len(files) == 2
    assert discovered["total_size"] == sum(p.stat().st_size for p in files)
    assert discovered["name"] == "Show.S01"
    for kind in ("state_changed", "progress", "completed", "fsops_started"):
        assert kind in kinds, kinds
    assert kinds.index("completed") < kinds.index("fsops_started")
    assert kinds.index("fsops_started") < kinds.index("fsops_completed")
    ids = [e["id"] for e in client.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    finished = next(e for e in client.events if e["kind"] == "fsops_completed")
    assert finished["status"] == "moved"
    outcomes = {e["outcome"] for e in client.events if e["kind"] == "fsops_progress"}
    assert {"started", "done"} <= outcomes

    status, job = daemon.api("GET", f"/v1/fs-jobs/{finished['job_id']}")
    assert status == 200 and job["torrent_id"] == seeder.info_hash
    statuses = [step["status"] for step in job["history"]]
    # Opened, then one row as each stage starts and ends, then filed.
    assert statuses[0] == "pending" and statuses[-1] == "moved"
    assert set(statuses[1:-1]) == {"moving"}
    shown = daemon.cli_json("jobs", "show", str(job["id"]))
    assert shown["history"] == job["history"]


def test_last_event_id_replays_exactly_what_was_missed(daemon: Daemon) -> None:
    client = EventClient(daemon, "?kind=torrent_added,removed,state_changed")
    first = daemon.api("POST", "/v1/torrents", {"magnet": _magnet(), "paused": True})
    torrent = first[1]["id"]
    client.wait_for(lambda: client.kinds(torrent), "torrent_added")
    client.close()
    last_seen = client.events[-1]["id"]

    # While no one listens: a resume, a pause and a removal.
    for action in ("resume", "pause"):
        assert (
            daemon.api("POST", f"/v1/torrents/{torrent}/action", {"type": action})[0]
            == 200
        )
    removed = daemon.api("POST", f"/v1/torrents/{torrent}/action", {"type": "remove"})
    assert removed[0] == 200

    again = EventClient(
        daemon, "?kind=torrent_added,removed,state_changed", last_id=last_seen
    )
    try:
        again.wait_for(lambda: "removed" in again.kinds(torrent), "replayed removal")
    finally:
        again.close()

    assert all(e["id"] > last_seen for e in again.events)
    assert again.kinds(torrent)[-1] == "removed"
    assert "torrent_added" not in again.kinds(torrent)
    assert "state_changed" in again.kinds(torrent)


def test_filters_keepalives_and_settings_events(daemon: Daemon) -> None:
    one = daemon.api("POST", "/v1/torrents", {"magnet": _magnet(), "paused": True})[1][
        "id"
    ]
    client = EventClient(daemon, f"?torrent={one}&keepalive=0.5")
    settings = EventClient(daemon, "?kind=settings_changed")
    try:
        daemon.api("POST", "/v1/torrents", {"magnet": _magnet(), "paused": True})
        daemon.api("POST", f"/v1/torrents/{one}/action", {"type": "remove"})
        patched = daemon.api("PATCH", "/v1/settings", {"max_active_downloads": 7})
        assert patched[0] == 200, patched
        client.wait_for(lambda: client.kinds(one) == ["removed"], "only this torrent")
        client.wait_for(lambda: client.comments >= 3, "keep-alive comments")
        settings.wait_for(lambda: settings.events, "settings_changed")
    finally:
        client.close()
        settings.close()

    assert {e["torrent_id"] for e in client.events} == {one}
    assert settings.events[0]["keys"] == ["max_active_downloads"]
    bad = daemon.api("GET", "/v1/events?kind=gossip")
    assert bad[0] == 400 and bad[1]["invalid_params"][0]["name"] == "kind"


def test_revaer_tail_resumes_from_its_file(daemon: Daemon) -> None:
    resume = daemon.data_dir / "tail-position"
    base = [
        sys.executable,
        "-m",
        "revaer_actors",
        "--api-url",
        daemon.api_url,
        "--data-dir",
        str(daemon.data_dir),
        "tail",
        "--json",
        "--kind",
        "torrent_added",
        "--resume-file",
        str(resume),
        "--count",
        "2",
    ]

    first = subprocess.Popen(base, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)  # let it connect; events before that are not replayed
    ids = [
        daemon.api("POST", "/v1/torrents", {"magnet": _magnet(), "paused": True})[1][
            "id"
        ]
        for _ in range(4)
    ]
    out, _ = first.communicate(timeout=60)
    second = subprocess.run(base, capture_output=True, text=True, timeout=60)

    assert first.returncode == 0
    assert [json.loads(line)["torrent_id"] for line in out.splitlines()] == ids[:2]
    assert second.returncode == 0, second.stderr
    assert [
        json.loads(line)["torrent_id"] for line in second.stdout.splitlines()
    ] == ids[2:]


def test_a_client_that_never_reads_is_dropped_and_never_slows_publishing() -> None:
    async def scenario() -> tuple[bool, bool]:
        hub = EventHub(window=16)
        hub.attach(asyncio.get_running_loop())
        slow, _ = hub.subscribe()
        fast, _ = hub.subscribe(kinds=["progress"])
        for i in range(QUEUE_SIZE * 3):
            hub.publish("progress", "a" * 40, progress=i / (QUEUE_SIZE * 3))
        await asyncio.sleep(0.1)  # let the loop deliver
        return slow.dropped, fast.dropped

    slow_dropped, fast_dropped = asyncio.run(scenario())

    assert slow_dropped
    assert fast_dropped  # it did not read during the burst either


def test_replay_window_is_bounded() -> None:
    hub = EventHub(window=10)
    events = [hub.publish("progress", None, n=i) for i in range(25)]

    _, missed = hub.subscribe(last_id=events[0].id)

    assert [e.data["n"] for e in missed] == list(range(15, 25))


def test_a_copy_reports_files_placed_as_fsops_progress(
    tmp_path: Any, database_url: str, daemon_factory: list[Daemon], seeder: Seeder
) -> None:
    daemon = Daemon(tmp_path / "data", database_url)
    with (daemon.data_dir / "revaer.toml").open("a") as config:
        config.write('[fsops]\ntransfer = "copy"\n')
    daemon_factory.append(daemon)
    daemon.start()
    client = EventClient(daemon, "?kind=fsops_progress,fsops_completed")
    try:
        assert daemon.cli("add", seeder.magnet, "--category", "tv").returncode == 0
        client.wait_for(
            lambda: "fsops_completed" in client.kinds(seeder.info_hash),
            "the copy to complete",
        )
    finally:
        client.close()

    placed = [
        e for e in client.events if e["kind"] == "fsops_progress" and "files_done" in e
    ]
    files = [p for p in seeder.payload.rglob("*") if p.is_file()]
    assert placed, client.events
    assert placed[-1]["files_done"] == placed[-1]["files_total"] >= len(files)


def _subscribers(daemon: Daemon) -> int:
    status, body = daemon.api("GET", "/health/full")
    assert status == 200, body
    return int(body["queues"]["event_subscribers"])


def _stalled_subscriber(daemon: Daemon) -> socket.socket:
    """An SSE client that connects and then never reads a byte."""
    sock = socket.socket()
    # A small window, so the daemon's writes back up after a few events.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", daemon.port))
    sock.sendall(
        b"GET /v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        + f"Authorization: Bearer {daemon.api_key}\r\n\r\n".encode()
    )
    return sock


def test_a_stalled_client_is_cut_off_while_a_reader_gets_every_event(
    daemon: Daemon,
) -> None:
    reader = EventClient(daemon, "?kind=torrent_added")
    stalled = _stalled_subscriber(daemon)
    try:
        daemon.wait_for(lambda: _subscribers(daemon) == 2, "both subscribers")
        # Large events fill the stalled client's buffers after a few hundred.
        long_name = "n" * 8000
        added: list[str] = []
        while _subscribers(daemon) == 2:
            for _ in range(50):
                magnet = f"magnet:?xt=urn:btih:{secrets.token_hex(20)}&dn={long_name}"
                status, body = daemon.api(
                    "POST", "/v1/torrents", {"magnet": magnet, "paused": True}
                )
                assert status == 201, body
                added.append(body["id"])
            assert len(added) <= 5000, "the stalled client was never cut off"
            # The daemon answers while one client is stuck.
            assert daemon.api("GET", "/health")[0] == 200
        # The stalled one went; the reader is still subscribed.
        remaining = _subscribers(daemon)
        reader.wait_for(
            lambda: [e["torrent_id"] for e in reader.events] == added,
            "every torrent_added for the reader",
        )
    finally:
        reader.close()
        stalled.close()

    assert remaining == 1
    assert daemon.api("GET", "/health")[0] == 200


def test_a_job_that_cannot_file_its_download_sends_fsops_failed(
    daemon: Daemon, seeder: Seeder
) -> None:
    # Something already in the library where the download would go.
    taken = daemon.data_dir / "library" / "tv" / "Show.S01"
    taken.mkdir(parents=True)
    (taken / "mine.txt").write_text("not the download's")
    client = EventClient(daemon, "?kind=fsops_started,fsops_completed,fsops_failed")
    try:
        assert daemon.cli("add", seeder.magnet, "--category", "tv").returncode == 0
        client.wait_for(
            lambda: "fsops_failed" in client.kinds(seeder.info_hash), "fsops_failed"
        )
    finally:
        client.close()

    kinds = client.kinds(seeder.info_hash)
    assert "fsops_completed" not in kinds
    assert kinds.index("fsops_started") < kinds.index("fsops_failed")
    failed = next(e for e in client.events if e["kind"] == "fsops_failed")
    assert failed["status"] == "failed" and failed["stage"] == "plan"
    assert failed["error"] == f"destination already exists: {taken}"
    status, job = daemon.api("GET", f"/v1/fs-jobs/{failed['job_id']}")
    assert status == 200 and job["status"] == "failed"
    assert (taken / "mine.txt").read_text() == "not the download's"
