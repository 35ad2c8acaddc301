"""Runs `revaer run` as a real subprocess, the way a user would, for tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

LOOPBACK_ENGINE = """
[engine]
dht = false
lsd = false
upnp = false
natpmp = false
allow_multiple_connections_per_ip = true
"""
START_TIMEOUT = 60.0
STOP_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Daemon:
    """One revaer daemon on 127.0.0.1 with its own data directory."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra_args = extra_args or []
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "daemon.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / "revaer.toml").write_text(LOOPBACK_ENGINE)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Daemon:
        env = dict(os.environ)
        env.pop("DATABASE_URL", None)
        if self.database_url is not None:
            env["DATABASE_URL"] = self.database_url
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "revaer_actors",
                "run",
                "--data-dir",
                str(self.data_dir),
                "--api-listen",
                f"127.0.0.1:{self.port}",
                "--bt-listen",
                "127.0.0.1:0",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self._wait_healthy()
        return self

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited at start:\n{self.log()}")
            try:
                status, _ = self.api("GET", "/health")
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"daemon did not become healthy:\n{self.log()}")

    def stop(self) -> int:
        """SIGTERM, as a service manager would; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None
        return code

    def kill9(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def kill9_from_another_thread(self) -> None:
        """SIGKILL without touching self.process (the test thread owns it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def api(
        self, method: str, path: str, body: Any = None, *, raw: bytes | None = None
    ) -> tuple[int, Any]:
        data = (
            raw
            if raw is not None
            else (json.dumps(body).encode() if body is not None else None)
        )
        request = urllib.request.Request(
            self.api_url + path, data=data, method=method, headers=self.headers()
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            # /health and /health/full have a body of their own; every other
            # error is a problem.
            if not path.startswith("/health"):
                assert exc.headers.get_content_type() == "application/problem+json"
            return exc.code, _json(exc.read())

    @property
    def api_key(self) -> str | None:
        """The key the daemon wrote at first start."""
        path = self.data_dir / "api-key"
        return path.read_text().strip() if path.exists() else None

    def headers(self, content_type: str = "application/json") -> dict[str, str]:
        headers = {"Content-Type": content_type}
        if self.api_key is not None:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def torrents(self, query: str = "") -> list[dict[str, Any]]:
        """Every torrent the list shows, following its pages."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            suffix = f"&cursor={cursor}" if cursor else ""
            status, body = self.api("GET", f"/v1/torrents?limit=500{query}{suffix}")
            assert status == 200, body
            items.extend(body["items"])
            cursor = body["next"]
            if cursor is None:
                return items

    def catalog(self) -> dict[str, tuple[Any, ...]]:
        """What a user told the daemon about each torrent (no live figures)."""
        items = self.torrents()
        return {
            t["id"]: (t["name"], t["category"], tuple(t["tags"]), t["paused"])
            for t in items
        }

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "revaer_actors", "--api-url", self.api_url, *args],
            env={**os.environ, "REVAER_DATA_DIR": str(self.data_dir)},
            capture_output=True,
            text=True,
            timeout=60,
        )

    def cli_json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def wait_for(self, predicate: Any, what: str, timeout: float = 60.0) -> Any:
        """Polls until predicate() returns something truthy; returns it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what}:\n{self.log()[-4000:]}")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None
        if self.database_url is None:
            self._stop_embedded_server()

    def _stop_embedded_server(self) -> None:
        """An embedded PostgreSQL outlives a killed daemon, by design (the next
        start reuses it); the test started it, so the test ends it, by the pid
        in its own postmaster.pid and only if that process serves this folder."""
        import psutil

        pgdata = self.data_dir / "postgres"
        try:
            pid = int((pgdata / "postmaster.pid").read_text().split()[0])
            server = psutil.Process(pid)
            if str(pgdata) not in " ".join(server.cmdline()):
                return
            server.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            server.wait(timeout=STOP_TIMEOUT)
        except (OSError, ValueError, IndexError, psutil.Error):
            return


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None
