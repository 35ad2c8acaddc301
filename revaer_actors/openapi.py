"""The OpenAPI 3.1 document served at /v1/openapi.json.

Written by hand next to the routes it describes; a test checks that every
route in the app is here and every path here is a route.
"""

from __future__ import annotations

from typing import Any

from revaer_actors import __version__
from revaer_actors.domain import JobStatus, TorrentState
from revaer_actors.events import KINDS
from revaer_actors.listing import DEFAULT_LIMIT, MAX_LIMIT, ORDERS, SORTS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
_BODY_JSON = {
    "required": True,
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_ERRORS = {
    "400": _problem("Bad input; `invalid_params` names the fields."),
    "401": _problem("No key, or a revoked one."),
    "503": _problem("The database is unreachable; see Retry-After."),
}
_NOT_FOUND = {"404": _problem("No such id.")}


def _page(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "next": {
                "type": ["string", "null"],
                "description": "Cursor of the next page.",
            },
        },
    }


def _paths() -> dict[str, Any]:
    health = {
        "200": _json(_ref("Health"), "Healthy."),
        "503": _json(_ref("Health"), "A component is failing."),
    }
    return {
        "/health": {
            "get": {
                "summary": "Lightweight health",
                "security": [],
                "responses": health,
            }
        },
        "/health/full": {
            "get": {
                "summary": "Components, latencies, versions, uptime, queues",
                "security": [],
                "responses": health,
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Text exposition format.",
                        "content": {"text/plain": {}},
                    }
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {
                    "200": _json({"type": "object"}, "OpenAPI 3.1."),
                    "401": _ERRORS["401"],
                },
            }
        },
        "/v1/torrents": {
            "get": {
                "summary": "List torrents, a page at a time",
                "parameters": [
                    _query(
                        "limit",
                        f"Page size, 1 to {MAX_LIMIT}.",
                        {"type": "integer", "default": DEFAULT_LIMIT},
                    ),
                    _query(
                        "cursor", "The `next` of the previous page.", {"type": "string"}
                    ),
                    _query("state", "Only this state.", {"enum": list(TorrentState)}),
                    _query("category", "Only this category.", {"type": "string"}),
                    _query("tag", "Only torrents with this tag.", {"type": "string"}),
                    _query(
                        "name", "Name contains this, ignoring case.", {"type": "string"}
                    ),
                    _query(
                        "sort",
                        "Sort key.",
                        {"enum": list(SORTS), "default": "added_at"},
                    ),
                    _query(
                        "order", "Sort order.", {"enum": list(ORDERS), "default": "asc"}
                    ),
                ],
                "responses": {"200": _json(_page("Torrent"), "One page."), **_ERRORS},
            },
            "post": {
                "summary": "Add from a magnet, .torrent bytes or a URL",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": _ref("AddTorrent")},
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "torrent": {"type": "string", "format": "binary"},
                                    "options": {
                                        "type": "string",
                                        "description": "JSON add options.",
                                    },
                                },
                            }
                        },
                    },
                },
                "responses": {
                    "201": _json(
                        {"type": "object", "properties": {"id": {"type": "string"}}},
                        "Added and committed.",
                    ),
                    "409": _problem("Already in the catalog."),
                    "413": _problem("Body too large."),
                    "422": _problem("libtorrent refused the torrent."),
                    **_ERRORS,
                },
            },
        },
        "/v1/torrents/{id}": {
            "get": {
                "summary": "One torrent with its files",
                "parameters": [_ID],
                "responses": {
                    "200": _json(_ref("Torrent"), "The torrent."),
                    **_NOT_FOUND,
                    **_ERRORS,
                },
            }
        },
        "/v1/torrents/{id}/action": {
            "post": {
                "summary": "Pause, resume, remove, recheck, move and other commands",
                "parameters": [_ID],
                "requestBody": _BODY_JSON,
                "responses": {
                    "200": _json(_ref("Torrent"), "Committed and applied."),
                    **_NOT_FOUND,
                    **_ERRORS,
                },
            }
        },
        "/v1/torrents/{id}/select": {
            "post": {
                "summary": "Choose the files to download",
                "parameters": [_ID],
                "requestBody": _BODY_JSON,
                "responses": {
                    "200": _json(_ref("Torrent"), "Committed and applied."),
                    **_NOT_FOUND,
                    **_ERRORS,
                },
            }
        },
        "/v1/fs-jobs": {
            "get": {
                "summary": "Post-processing jobs",
                "parameters": [
                    _query("status", "Only this status.", {"enum": list(JobStatus)}),
                    _query(
                        "torrent_id", "Only this torrent's jobs.", {"type": "string"}
                    ),
                ],
                "responses": {
                    "200": _json(_page("Job"), "Every matching job."),
                    **_ERRORS,
                },
            }
        },
        "/v1/fs-jobs/{id}": {
            "get": {
                "summary": "One job with its history",
                "parameters": [_ID],
                "responses": {
                    "200": _json(_ref("Job"), "The job."),
                    **_NOT_FOUND,
                    **_ERRORS,
                },
            }
        },
        "/v1/fs-jobs/{id}/retry": {
            "post": {
                "summary": "Put a failed job back in the queue at its failed stage",
                "parameters": [_ID],
                "responses": {
                    "202": _json(_ref("Job"), "The job, pending again."),
                    "409": _problem("The job is not failed."),
                    **_NOT_FOUND,
                    **_ERRORS,
                },
            }
        },
        "/v1/events": {
            "get": {
                "summary": "Server-sent events; Last-Event-ID replays a bounded window",
                "parameters": [
                    _query(
                        "kind",
                        "Comma-separated kinds: " + ", ".join(KINDS),
                        {"type": "string"},
                    ),
                    _query(
                        "torrent", "Only this torrent's events.", {"type": "string"}
                    ),
                    _query(
                        "keepalive",
                        "Seconds between keep-alive comments.",
                        {"type": "number", "default": 15},
                    ),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "An event stream.",
                        "content": {"text/event-stream": {}},
                    },
                    **_ERRORS,
                },
            }
        },
        "/v1/settings": {
            "get": {
                "summary": "Settings in effect",
                "responses": {"200": _json({"type": "object"}, "Settings."), **_ERRORS},
            },
            "patch": {
                "summary": "Change settings; committed, then applied",
                "requestBody": _BODY_JSON,
                "responses": {
                    "200": _json({"type": "object"}, "Settings now."),
                    **_ERRORS,
                },
            },
        },
        "/v1/keys": {
            "get": {
                "summary": "API keys (never the keys themselves)",
                "responses": {"200": _json(_page("Key"), "Keys."), **_ERRORS},
            },
            "post": {
                "summary": "Issue a key; the answer is the only place it is shown",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {"name": {"type": "string"}},
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json(_ref("Key"), "The key, with `key`."),
                    **_ERRORS,
                },
            },
        },
        "/v1/keys/{id}": {
            "delete": {
                "summary": "Revoke a key",
                "parameters": [_ID],
                "responses": {
                    "200": _json(_ref("Key"), "Revoked."),
                    "409": _problem("The last active key cannot be revoked."),
                    **_NOT_FOUND,
                    **_ERRORS,
                },
            }
        },
    }


_TORRENT_FIELDS = {
    "id": {"type": "string"},
    "name": {"type": "string"},
    "state": {"enum": list(TorrentState)},
    "state_message": {"type": ["string", "null"]},
    "progress": {"type": "number"},
    "download_rate": {"type": "integer"},
    "upload_rate": {"type": "integer"},
    "total_done": {"type": "integer"},
    "total_size": {"type": "integer"},
    "category": {"type": ["string", "null"]},
    "tags": {"type": "array", "items": {"type": "string"}},
    "paused": {"type": "boolean"},
    "sequential": {"type": "boolean"},
    "download_limit": {"type": ["integer", "null"]},
    "upload_limit": {"type": ["integer", "null"]},
    "ratio_limit": {"type": ["number", "null"]},
    "seeding_time_limit": {"type": ["integer", "null"]},
    "selection": {"type": "object"},
    "force_start": {"type": "boolean"},
    "queue_position": {"type": "integer"},
    "uploaded": {"type": "integer"},
    "downloaded": {"type": "integer"},
    "ratio": {"type": "number"},
    "seeding_time": {"type": "integer"},
    "eta": {"type": ["integer", "null"]},
    "num_peers": {"type": "integer"},
    "num_seeds": {"type": "integer"},
    "tracker_error": {"type": ["string", "null"]},
    "save_path": {"type": "string"},
    "library_path": {"type": ["string", "null"]},
    "added_at": {"type": "string", "format": "date-time"},
    "completed_at": {"type": ["string", "null"], "format": "date-time"},
    "fsops": {"type": "object", "description": "The torrent's own FsOps policy."},
    "files": {"type": "array", "items": {"type": "object"}},
}


def _schemas() -> dict[str, Any]:
    return {
        "Problem": {
            "type": "object",
            "required": ["type", "title", "status", "detail"],
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "invalid_params": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "reason": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Health": {"type": "object", "required": ["status", "failing", "components"]},
        "Torrent": {
            "type": "object",
            "required": list(_TORRENT_FIELDS),
            "properties": _TORRENT_FIELDS,
        },
        "AddTorrent": {
            "type": "object",
            "description": "One of magnet, metainfo (base64) or url.",
            "properties": {
                "magnet": {"type": "string"},
                "metainfo": {"type": "string", "contentEncoding": "base64"},
                "url": {"type": "string"},
                "category": {"type": "string"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "paused": {"type": "boolean"},
                "save_path": {"type": "string"},
                "fsops": {
                    "type": "object",
                    "description": "FsOps policy keys over the category's.",
                },
            },
        },
        "Job": {"type": "object", "required": ["id", "torrent_id", "status", "stage"]},
        "Key": {
            "type": "object",
            "required": ["id", "name", "created_at", "revoked_at"],
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "created_at": {"type": "string", "format": "date-time"},
                "revoked_at": {"type": ["string", "null"], "format": "date-time"},
                "key": {"type": "string", "description": "Only when issued."},
            },
        },
    }


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "revaer-actors", "version": __version__},
        "security": [{"bearer": []}, {"apiKey": []}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            },
        },
    }
