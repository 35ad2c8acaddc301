"""Who may use the qBittorrent-compatible API: credentials, sessions and bans.

qBittorrent's rules (up to 5.1) are kept because clients depend on them: a
login answers 200 `Ok.` or `Fails.`, the session is a cookie named `SID`, any
other call without a session is a 403, and five failed logins ban the address
for an hour. The password is kept only as a PBKDF2 hash; when revaer.toml sets
none, one is generated at first start, its hash stored in the database, and
the password itself written once to `<data>/qbittorrent-password` (mode 0600).

The middleware that applies these rules to every call, and `auth/login` and
`auth/logout`, are at the end.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from revaer_actors.config import QbittorrentCredentials
from revaer_actors.qbittorrent_common import (
    FACADE,
    PREFIX,
    Next,
    Params,
    Upload,
    facade_of,
    text,
)

log = logging.getLogger(__name__)

PASSWORD_FILE = "qbittorrent-password"
COOKIE = "SID"
SCOPE = "qbittorrent"
PBKDF2_ITERATIONS = 100_000
MAX_FAILED_LOGINS = 5
BAN_SECONDS = 3600.0
SESSION_SECONDS = 3600.0
MAX_SESSIONS = 10_000
BANNED_TEXT = (
    "Your IP address has been banned after too many failed authentication attempts."
)


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded_salt = base64.b64encode(salt).decode()
    encoded = base64.b64encode(digest).decode()
    return f"pbkdf2-sha512${PBKDF2_ITERATIONS}${encoded_salt}${encoded}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.pbkdf2_hmac(
            "sha512", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except ValueError:
        return False
    return scheme == "pbkdf2-sha512" and hmac.compare_digest(actual, expected)


def password_hash(
    credentials: QbittorrentCredentials, data_dir: Path, persistence: Any
) -> str:
    """The hash to check logins against; blocking (runs off the event loop).

    A password from revaer.toml wins. Otherwise the stored hash is used, and
    at first start a password is generated and written (fsynced) for the user
    to read, and only then its hash committed: a crash in between means a new
    password next start, while a stored hash with no file would lock them out.
    """
    if credentials.password is not None:
        return hash_password(credentials.password)

    stored = persistence.load_scope(SCOPE).get(timeout=30)
    if isinstance(stored.get("password_pbkdf2"), str):
        return str(stored["password_pbkdf2"])

    password = secrets.token_urlsafe(12)
    hashed = hash_password(password)
    path = data_dir / PASSWORD_FILE
    _write_private(path, password + "\n")
    persistence.save_scope(SCOPE, {**stored, "password_pbkdf2": hashed}).get(timeout=30)
    log.warning(
        "qbittorrent password generated user=%s file=%s", credentials.username, path
    )
    return hashed


def _write_private(path: Path, text: str) -> None:
    """Readable by the owner only, whole or not at all, on disk on return."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def api_key_valid(services: Any, data_dir: Path, key: str) -> bool:
    """Whether `Authorization: Bearer KEY` carries one of revaer's API keys.

    With API authentication turned off there is no key ring, and no key opens
    the façade: a client then logs in with the qBittorrent credentials.
    """
    keyring = getattr(services, "keyring", None)
    return keyring is not None and bool(keyring.allows(key))


@dataclass
class Session:
    sid: str
    expires: float
    # sync/maindata's memory of what this client was last sent.
    sync: Any = None


class Gatekeeper:
    """Sessions, failed-login counts and bans; used from the event loop only."""

    def __init__(self, username: str, clock: Any = time.monotonic) -> None:
        self.username = username
        self.password_hash = ""
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, int] = {}
        self._banned_until: dict[str, float] = {}
        # Basic credentials already verified, by keyed digest: PBKDF2 is slow on
        # purpose, and Sonarr sends the header with every request.
        self._basic_ok: dict[bytes, float] = {}
        self._secret = secrets.token_bytes(32)

    def banned(self, address: str) -> bool:
        until = self._banned_until.get(address)
        if until is None:
            return False
        if until <= self._clock():
            del self._banned_until[address]
            return False
        return True

    def failed(self, address: str) -> None:
        count = self._failures.get(address, 0) + 1
        if count >= MAX_FAILED_LOGINS:
            self._failures.pop(address, None)
            self._banned_until[address] = self._clock() + BAN_SECONDS
            log.warning("qbittorrent api address banned address=%s", address)
            return
        self._failures[address] = count

    def succeeded(self, address: str) -> None:
        self._failures.pop(address, None)

    def credentials_match(self, username: str, password: str) -> bool:
        """Blocking: PBKDF2 on the password."""
        same_user = hmac.compare_digest(username.encode(), self.username.encode())
        return verify_password(password, self.password_hash) and same_user

    def basic_known(self, header: str) -> bool:
        key = self._basic_key(header)
        until = self._basic_ok.get(key)
        return until is not None and until > self._clock()

    def remember_basic(self, header: str) -> None:
        self._basic_ok[self._basic_key(header)] = self._clock() + SESSION_SECONDS

    def _basic_key(self, header: str) -> bytes:
        return hmac.digest(self._secret, header.encode("utf-8", "replace"), "sha256")

    def open_session(self) -> Session:
        self._evict()
        session = Session(secrets.token_urlsafe(24), self._clock() + SESSION_SECONDS)
        self._sessions[session.sid] = session
        return session

    def session(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        now = self._clock()
        if session.expires <= now:
            del self._sessions[sid]
            return None
        session.expires = now + SESSION_SECONDS
        return session

    def close_session(self, sid: str | None) -> None:
        if sid:
            self._sessions.pop(sid, None)

    def _evict(self) -> None:
        now = self._clock()
        for sid in [s for s, v in self._sessions.items() if v.expires <= now]:
            del self._sessions[sid]
        for key in [k for k, v in self._basic_ok.items() if v <= now]:
            del self._basic_ok[key]
        if len(self._sessions) >= MAX_SESSIONS:
            oldest = min(self._sessions.values(), key=lambda s: s.expires)
            del self._sessions[oldest.sid]


# The HTTP side: the middleware every call passes, and auth/*.


@web.middleware
async def authenticate(request: web.Request, handler: Next) -> web.StreamResponse:
    facade = request.app[FACADE]
    if _cross_site(request):
        log.info("qbittorrent api cross-site request refused path=%s", request.path)
        return text("Unauthorized", 401)

    action = request.path[len(PREFIX) :].strip("/")
    authorization = request.headers.get("Authorization", "")
    if action.startswith("auth/") and authorization.startswith("Bearer "):
        # As qBittorrent: an API key has no business with sessions, and a
        # login carrying one must not count as a failed attempt either.
        return text("Forbidden", 403)
    if action == "auth/login":
        return await handler(request)

    session = facade.gate.session(request.cookies.get(COOKIE))
    if session is not None:
        request["qbt_session"] = session
        return await handler(request)

    if authorization.startswith("Bearer "):
        return await _with_api_key(request, handler, action, authorization[7:])
    if authorization.startswith("Basic "):
        verdict = await _basic(request, authorization)
        if verdict is True:
            session = facade.gate.open_session()
            request["qbt_session"] = session
            response = await handler(request)
            _set_cookie(response, session)
            return response
    return text("Forbidden", 403)


async def _with_api_key(
    request: web.Request, handler: Next, action: str, key: str
) -> web.StreamResponse:
    facade = request.app[FACADE]
    if action.startswith("auth/"):
        return text("Forbidden", 403)
    valid = await facade.services.bridge.run(
        api_key_valid, facade.services, facade.data_dir, key
    )
    if not valid:
        return text("Forbidden", 403)
    # API-key clients keep no cookie; their sync/maindata memory is per key.
    name = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()
    session = facade.bearer_sessions.setdefault(name, Session(name, float("inf")))
    request["qbt_session"] = session
    return await handler(request)


async def _basic(request: web.Request, header: str) -> bool | None:
    """True for valid credentials; None for Radarr's empty `Og==` (no opinion)."""
    facade = request.app[FACADE]
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except ValueError:
        # Bad base64, non-ASCII text in the header, or bytes that are not UTF-8.
        return False
    username, _, password = decoded.partition(":")
    if not username and not password:
        return None
    address = request.remote or ""
    if facade.gate.banned(address):
        return False
    if facade.gate.basic_known(header):
        return True
    ok: bool = await facade.services.bridge.run(
        facade.gate.credentials_match, username, password
    )
    if ok:
        facade.gate.remember_basic(header)
        facade.gate.succeeded(address)
    else:
        facade.gate.failed(address)
    return ok


def _cross_site(request: web.Request) -> bool:
    """qBittorrent's CSRF rule: a browser's Origin/Referer must match Host."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin:
        fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
        return fetch_site == "cross-site"
    source = _host_port(origin, request.scheme)
    host = _host_port(f"{request.scheme}://{request.headers.get('Host', '')}", "")
    return source is None or source != host


def _host_port(url: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = 443 if (parts.scheme or scheme) == "https" else 80
    return parts.hostname.lower(), port or default


def _set_cookie(response: web.StreamResponse, session: Session) -> None:
    # Never Secure: over plain http the clients would not send it back.
    response.set_cookie(COOKIE, session.sid, httponly=True, path="/", samesite="Lax")


async def login(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    gate = facade_of(request).gate
    address = request.remote or ""
    if gate.banned(address):
        return text(BANNED_TEXT, 403)
    if gate.session(request.cookies.get(COOKIE)) is not None:
        return text("Ok.")

    username = params.get("username", "")
    password = params.get("password", "")
    bridge = facade_of(request).services.bridge
    if not await bridge.run(gate.credentials_match, username, password):
        gate.failed(address)
        log.info("qbittorrent api login failed address=%s", address)
        return text("Fails.")

    gate.succeeded(address)
    session = gate.open_session()
    response = text("Ok.")
    _set_cookie(response, session)
    return response


async def logout(request: web.Request, params: Params, _: list[Upload]) -> web.Response:
    facade_of(request).gate.close_session(request.cookies.get(COOKIE))
    response = text("")
    response.del_cookie(COOKIE, path="/")
    return response
