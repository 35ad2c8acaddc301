"""Prometheus metrics, in one registry of the daemon's own (not the global one,
so tests that start the daemon's parts twice in one process stay independent).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry()

OUTBOX_DEPTH = Gauge(
    "revaer_persistence_outbox_depth",
    "Engine events waiting to be written (ordered writes plus coalesced progress).",
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "revaer_persistence_batch_size",
    "Writes per committed persistence batch.",
    buckets=(1, 5, 10, 50, 100, 500, 1000, 5000, 10000),
    registry=REGISTRY,
)
COMMIT_SECONDS = Histogram(
    "revaer_persistence_commit_seconds",
    "Time to commit one persistence transaction.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "revaer_database_up",
    "1 while the persistence actor can commit, 0 while durability is degraded.",
    registry=REGISTRY,
)
TORRENTS = Gauge(
    "revaer_torrents",
    "Torrents in the catalog by state.",
    ["state"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "revaer_http_requests_total",
    "HTTP requests answered, by route and status.",
    ["route", "status"],
    registry=REGISTRY,
)
RATE_BYTES = Gauge(
    "revaer_transfer_rate_bytes",
    "Bytes per second over every torrent, by direction.",
    ["direction"],
    registry=REGISTRY,
)
FSOPS_JOBS = Gauge(
    "revaer_fsops_jobs",
    "Post-processing jobs by status.",
    ["status"],
    registry=REGISTRY,
)
FSOPS_STAGE_SECONDS = Histogram(
    "revaer_fsops_stage_seconds",
    "Time a post-processing job spent in each stage.",
    ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800),
    registry=REGISTRY,
)
EVENT_SUBSCRIBERS = Gauge(
    "revaer_event_subscribers",
    "Clients connected to /v1/events.",
    registry=REGISTRY,
)
TRANSITIONS_DROPPED = Counter(
    "revaer_persistence_transitions_dropped_total",
    "Intermediate state transitions dropped past the per-torrent outbox cap "
    "during a long database outage.",
    registry=REGISTRY,
)
