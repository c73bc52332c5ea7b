#!/usr/bin/python3
"""A stand-in for the SJTU HPC API (https://api.hpc.sjtu.edu.cn), for the testbed and tests.

Standard library only: Debian's ``/usr/bin/python3`` runs it. Every endpoint of
``/work/shared/sjtu-hpc.md`` is served with the documented shapes and content types:

- ``POST /token``        password → text ``Bearer <token>``
- ``PATCH /token``       Bearer → text: the new token (the old one stops working)
- ``POST /gen_key``      Bearer → JSON ``{"private_key", "public_key"}`` (Ed25519)
- ``POST /sign_cert``    Bearer → text: an OpenSSH user certificate signed by the user CA;
                         blocks until the second factor is approved
- ``GET /user``          Bearer → JSON user attributes
- ``PATCH /user``        Bearer → JSON user attributes after an approved change
- ``GET /quota``         no auth → JSON usage measured from the storage tree

Control endpoints under ``/_testbed/`` let tests approve or deny second-factor requests,
switch failure modes and reset state: ``GET health``, ``GET pending``, ``POST approve``,
``POST deny``, ``POST mode``, ``POST config``, ``POST reset``.

Run: ``hpc_api.py --dir DIR [--host 127.0.0.1] [--port 18765]``. ``DIR/config.json`` holds
the users, the user CA and the storage root. ``--port 0`` picks a free port. Once listening,
``DIR/ready.json`` holds ``{"url", "port", "pid"}``. Passwords, tokens and private keys are
never logged.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger("hpc_api")

UNBOUND_MESSAGE = "user have not set email or jAccount"
MODES = ("normal", "unbound", "internal_error", "expired_token", "wrong_password")
FILESYSTEMS = ("lustre", "dssg", "archive", "vault")

# Defaults for the runtime settings; config.json and POST /_testbed/config override them.
DEFAULT_SETTINGS: dict[str, Any] = {
    "auto_approve_seconds": None,  # None: wait for /_testbed/approve
    "token_ttl": 3600.0,  # seconds a token stays valid
    "ban_threshold": 5,  # wrong passwords from one address before it is banned
    "ban_seconds": 3600.0,  # how long a ban lasts (fail2ban's hour), or until reset
    "approval_timeout": 900.0,  # a request nobody approves is refused after this
    "approval_on": ["sign_cert"],  # which calls wait for the second factor
    "max_valid_time": 7 * 24 * 3600,  # longest certificate a client may ask for
}


class HttpError(Exception):
    """A refusal: becomes an HTTP response with a text body."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


@dataclass
class Approval:
    """One second-factor request waiting for the user (here: for a test)."""

    id: str
    user: str
    what: str
    since: float
    event: threading.Event = field(default_factory=threading.Event)
    approved: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user,
            "what": self.what,
            "since": datetime.fromtimestamp(self.since, UTC).isoformat(),
        }


@dataclass
class TokenInfo:
    """Who a token belongs to and when it was issued."""

    user: str
    issued: float


class State:
    """Everything the stand-in remembers; every access holds ``lock``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.lock = threading.Lock()
        self.config: dict[str, Any] = json.loads((directory / "config.json").read_text())
        self.users: dict[str, dict[str, Any]] = {
            name: dict(attrs) for name, attrs in self.config.get("users", {}).items()
        }
        self.settings: dict[str, Any] = {}
        self.mode = "normal"
        self.tokens: dict[str, TokenInfo] = {}
        self.failures: dict[str, list[float]] = {}
        self.banned: dict[str, float] = {}
        self.pending: dict[str, Approval] = {}
        self.counts: dict[str, int] = {}
        self.serial = 0
        self.reset_settings()

    def reset_settings(self) -> None:
        self.settings = dict(DEFAULT_SETTINGS)
        for key in DEFAULT_SETTINGS:
            if key in self.config:
                self.settings[key] = self.config[key]

    def reset(self) -> None:
        with self.lock:
            self.mode = "normal"
            self.failures.clear()
            self.banned.clear()
            for approval in self.pending.values():
                approval.approved = False
                approval.event.set()
            self.pending.clear()
            self.counts.clear()
            self.reset_settings()


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def make_key_pair(user: str) -> tuple[str, str]:
    """An Ed25519 key pair made by ssh-keygen in a private temp dir."""
    with tempfile.TemporaryDirectory(prefix="hpc_api-key-") as tmp:
        path = Path(tmp) / "id_ed25519"
        result = _run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{user}@hpc", "-f", str(path)]
        )
        if result.returncode != 0:
            raise HttpError(500, "key generation failed")
        return path.read_text(), path.with_suffix(".pub").read_text()


def sign_public_key(
    ca: str, public_key: str, user: str, principals: list[str], valid_time: int, serial: int
) -> str:
    """An OpenSSH user certificate for ``public_key``, valid from 5 min ago for valid_time s."""
    line = public_key.strip()
    if "\n" in line or not line.startswith("ssh-"):
        raise HttpError(400, "public_key must be one OpenSSH public key line")
    with tempfile.TemporaryDirectory(prefix="hpc_api-sign-") as tmp:
        path = Path(tmp) / "key.pub"
        path.write_text(line + "\n")
        result = _run(
            [
                "ssh-keygen", "-q", "-s", ca, "-I", f"{user}-{serial}", "-z", str(serial),
                "-n", ",".join(principals), "-V", f"-5m:+{valid_time}s", str(path),
            ]
        )  # fmt: skip
        cert = Path(tmp) / "key-cert.pub"
        if result.returncode != 0 or not cert.exists():
            raise HttpError(400, "public_key is not a valid OpenSSH public key")
        return cert.read_text()


def measure(path: Path) -> tuple[int, int]:
    """Apparent bytes and inode count under ``path`` (the dir itself counts as one file)."""
    if not path.is_dir():
        return 0, 0
    used_bytes, used_files = 0, 1
    for root, dirs, files in os.walk(path, onerror=lambda _e: None):
        used_files += len(dirs)
        for name in files:
            with contextlib.suppress(OSError):
                used_bytes += os.lstat(os.path.join(root, name)).st_size
                used_files += 1
    return used_bytes, used_files


def _limits(table: object, fs: str) -> tuple[int | None, int | None]:
    """(bytes, files) limits of ``fs`` from a ``quota_limits`` entry.

    An entry is a number of bytes (``"lustre": 5000000000000``) or a table
    (``"lustre": {"limit_bytes": N, "limit_files": M}``); anything else means no limit.
    """
    entry = table.get(fs) if isinstance(table, dict) else None
    if isinstance(entry, int) and not isinstance(entry, bool):
        return entry, None
    if isinstance(entry, dict):
        found = entry.get("limit_bytes", entry.get("bytes"))
        files = entry.get("limit_files", entry.get("files"))
        return (
            found if isinstance(found, int) else None,
            files if isinstance(files, int) else None,
        )
    return None, None


class Handler(BaseHTTPRequestHandler):
    """Routes one request. ``server.state`` holds the shared state."""

    server_version = "hpc-api-standin/1.0"
    state: State  # set on the class by make_server

    # -- plumbing ---------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        # Replaced by _log, which writes the path without its query string and never a header
        # or body (where passwords and tokens travel).
        return

    def _log(self, status: int) -> None:
        path = urlsplit(self.path).path
        log.info("%s %s %s -> %d", self.client_address[0], self.command, path, status)

    def _send(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(data)
        self._log(status)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False), "application/json")

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise HttpError(400, "request body is not JSON") from exc
        if not isinstance(data, dict):
            raise HttpError(400, "request body must be a JSON object")
        return data

    def _client_gone(self) -> bool:
        """True once the client closed its connection (it stopped waiting)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            peeked: bytes = self.connection.recv(1, socket.MSG_PEEK)
            return peeked == b""
        except OSError:
            return True

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if path.startswith("/_testbed/"):
                self._control(method, path.removeprefix("/_testbed/"))
                return
            route = API_ROUTES.get((method, path))
            if route is None:
                raise HttpError(404, f"no such endpoint: {method} {path}")
            self._api_preamble(method, path)
            route(self, query)
        except HttpError as exc:
            self._send(exc.status, exc.body)
        except Exception:
            log.exception("unexpected failure in %s %s", method, path)
            self._send(500, f"Internal Server Error. Session ID: {uuid.uuid4()}")

    # -- API --------------------------------------------------------------------------------

    def _api_preamble(self, method: str, path: str) -> None:
        state = self.state
        addr = self.client_address[0]
        with state.lock:
            key = f"{method} {path}"
            state.counts[key] = state.counts.get(key, 0) + 1
            until = state.banned.get(addr)
            if until is not None and until > time.time():
                raise HttpError(
                    403, "Forbidden: too many failed logins from this address; banned for 1 hour"
                )
            if state.mode == "internal_error":
                raise HttpError(500, f"Internal Server Error. Session ID: {uuid.uuid4()}")

    def _bearer(self) -> str:
        state = self.state
        header = self.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise HttpError(401, "Unauthorized: missing Bearer token")
        with state.lock:
            if state.mode == "expired_token":
                raise HttpError(401, "Unauthorized: token expired")
            info = state.tokens.get(token.strip())
            if info is None:
                raise HttpError(401, "Unauthorized: invalid token")
            if time.time() - info.issued > float(state.settings["token_ttl"]):
                del state.tokens[token.strip()]
                raise HttpError(401, "Unauthorized: token expired")
            return info.user

    def _own_user(self, token_user: str, named: object) -> None:
        if named is not None and named != token_user:
            raise HttpError(403, "Forbidden: a token acts only for its own user")

    def _new_token(self, user: str) -> str:
        token = secrets.token_urlsafe(32)
        with self.state.lock:
            self.state.tokens[token] = TokenInfo(user, time.time())
        return token

    def _second_factor(self, user: str, what: str) -> None:
        """Wait for approval (or refuse) like the platform's 交我办/email confirmation."""
        state = self.state
        with state.lock:
            attrs = state.users[user]
            unbound = not attrs.get("email") and not attrs.get("jaccount")
            if state.mode == "unbound" or unbound:
                raise HttpError(400, f"Bad Request: {UNBOUND_MESSAGE}")
            approval = Approval(uuid.uuid4().hex[:12], user, what, time.time())
            state.pending[approval.id] = approval
            auto = state.settings["auto_approve_seconds"]
            limit = float(state.settings["approval_timeout"])
        log.info("second factor requested: id=%s user=%s what=%s", approval.id, user, what)
        if auto is not None:
            timer = threading.Timer(float(auto), self._auto_approve, args=(approval.id,))
            timer.daemon = True
            timer.start()
        deadline = time.monotonic() + limit
        try:
            while not approval.event.wait(0.1):
                if self._client_gone():
                    log.info("second factor %s: the client stopped waiting", approval.id)
                    raise HttpError(499, "client closed the request")
                if time.monotonic() > deadline:
                    raise HttpError(408, "Request Timeout: second factor not approved in time")
        finally:
            with state.lock:
                state.pending.pop(approval.id, None)
        if not approval.approved:
            raise HttpError(403, "Forbidden: the second factor was denied")
        log.info("second factor %s approved", approval.id)

    def _auto_approve(self, approval_id: str) -> None:
        with self.state.lock:
            approval = self.state.pending.get(approval_id)
            if approval is not None:
                approval.approved = True
                approval.event.set()

    def api_post_token(self, _query: dict[str, str]) -> None:
        state = self.state
        body = self._body()
        user = body.get("operator")
        password = body.get("password")
        addr = self.client_address[0]
        with state.lock:
            known = isinstance(user, str) and user in state.users
            good = (
                known
                and isinstance(password, str)
                and state.mode != "wrong_password"
                and secrets.compare_digest(
                    password.encode(), str(state.users[str(user)]["password"]).encode()
                )
            )
            if not good:
                now = time.time()
                recent = [t for t in state.failures.get(addr, []) if now - t < 600] + [now]
                state.failures[addr] = recent
                if len(recent) >= int(state.settings["ban_threshold"]):
                    state.banned[addr] = now + float(state.settings["ban_seconds"])
                    log.info("banning %s after %d wrong passwords", addr, len(recent))
        if not good:
            raise HttpError(401, "Unauthorized: wrong username or password")
        self._send(200, f"Bearer {self._new_token(str(user))}")

    def api_patch_token(self, _query: dict[str, str]) -> None:
        user = self._bearer()
        self._body()
        old = (self.headers.get("Authorization") or "").partition(" ")[2].strip()
        with self.state.lock:
            self.state.tokens.pop(old, None)
        self._send(200, self._new_token(user))

    def api_gen_key(self, _query: dict[str, str]) -> None:
        user = self._bearer()
        body = self._body()
        self._own_user(user, body.get("hpc_user"))
        if "gen_key" in self.state.settings["approval_on"]:
            self._second_factor(user, "gen_key")
        private_key, public_key = make_key_pair(user)
        self._json(200, {"private_key": private_key, "public_key": public_key})

    def api_sign_cert(self, _query: dict[str, str]) -> None:
        state = self.state
        user = self._bearer()
        body = self._body()
        self._own_user(user, body.get("hpc_user"))
        principals = body.get("principals", [user])
        if not isinstance(principals, list) or not principals or any(p != user for p in principals):
            raise HttpError(403, "Forbidden: principals must be your own user name")
        valid_time = body.get("valid_time", 3600)
        limit = int(state.settings["max_valid_time"])
        if not isinstance(valid_time, int) or isinstance(valid_time, bool):
            raise HttpError(400, "valid_time must be an integer number of seconds")
        if not 60 <= valid_time <= limit:
            raise HttpError(400, f"valid_time must be between 60 and {limit} seconds")
        public_key = body.get("public_key")
        if not isinstance(public_key, str):
            raise HttpError(400, "public_key is required")
        if "sign_cert" in state.settings["approval_on"]:
            self._second_factor(user, "sign_cert")
        with state.lock:
            state.serial += 1
            serial = state.serial
        cert = sign_public_key(
            str(state.config["user_ca"]), public_key, user, [str(p) for p in principals],
            valid_time, serial,
        )  # fmt: skip
        log.info("signed certificate serial=%d for %s valid %ds", serial, user, valid_time)
        self._send(200, cert)

    def _user_view(self, user: str) -> dict[str, Any]:
        attrs = self.state.users[user]
        return {
            "uid": user,
            "cn": user,
            "uidNumber": attrs.get("uid"),
            "gidNumber": attrs.get("gid"),
            "group": attrs.get("group"),
            "homeDirectory": attrs.get("home"),
            "home": attrs.get("home"),
            "loginShell": "/bin/bash",
            "email": attrs.get("email") or "",
            "jAccount": attrs.get("jaccount") or "",
            "userType": attrs.get("user_type", "normal"),
            "contact": attrs.get("contact", "jwb"),
        }

    def api_get_user(self, query: dict[str, str]) -> None:
        user = self._bearer()
        self._own_user(user, query.get("name"))
        with self.state.lock:
            view = self._user_view(user)
        self._json(200, view)

    def api_patch_user(self, _query: dict[str, str]) -> None:
        user = self._bearer()
        body = self._body()
        self._own_user(user, body.get("hpc_user", body.get("name")))
        changes: dict[str, str] = {}
        for key, attr in (
            ("password", "password"),
            ("email", "email"),
            ("jAccount", "jaccount"),
            ("jaccount", "jaccount"),
            ("contact", "contact"),
        ):
            if key in body:
                if not isinstance(body[key], str):
                    raise HttpError(400, f"{key} must be a string")
                changes[attr] = body[key]
        if not changes:
            raise HttpError(400, "nothing to change")
        self._second_factor(user, "update_user")
        with self.state.lock:
            self.state.users[user].update(changes)
            view = self._user_view(user)
        self._json(200, view)

    def api_get_quota(self, query: dict[str, str]) -> None:
        state = self.state
        kind = query.get("quota_type")
        name = query.get("name")
        if kind not in ("user", "account"):
            raise HttpError(400, "quota_type must be user or account")
        if not name:
            raise HttpError(400, "name is required")
        with state.lock:
            users = {u: dict(a) for u, a in state.users.items()}
            limits = state.config.get("quota_limits", {}).get(kind, {})
        if kind == "user":
            if name not in users:
                raise HttpError(404, f"no such user: {name}")
            homes = [(str(users[name]["group"]), name)]
        else:
            homes = [(name, u) for u, a in users.items() if a.get("group") == name]
            if not homes:
                raise HttpError(404, f"no such account: {name}")
        root = Path(str(state.config.get("storage_root", "/")))
        quotas = []
        for fs in FILESYSTEMS:
            if not (root / fs).is_dir():
                continue
            used_bytes = used_files = 0
            for account, user in homes:
                b, f = measure(root / fs / "home" / account / user)
                used_bytes += b
                used_files += f
            limit_bytes, limit_files = _limits(limits, fs)
            quotas.append(
                {
                    "filesystem": fs,
                    "used_bytes": used_bytes,
                    "limit_bytes": limit_bytes,
                    "used_files": used_files,
                    "limit_files": limit_files,
                }
            )
        self._json(200, {"name": name, "quota_type": kind, "quotas": quotas})

    # -- control ----------------------------------------------------------------------------

    def _control(self, method: str, name: str) -> None:
        state = self.state
        if (method, name) == ("GET", "health"):
            with state.lock:
                payload = {
                    "ok": True,
                    "mode": state.mode,
                    "pending": len(state.pending),
                    "banned": sorted(a for a, t in state.banned.items() if t > time.time()),
                    "counts": dict(state.counts),
                    "settings": dict(state.settings),
                }
            self._json(200, payload)
        elif (method, name) == ("GET", "pending"):
            with state.lock:
                items = [a.public() for a in state.pending.values()]
            self._json(200, items)
        elif method == "POST" and name in ("approve", "deny"):
            body = self._body()
            with state.lock:
                if "id" in body and body["id"] is not None:
                    approval = state.pending.get(str(body["id"]))
                    if approval is None:
                        raise HttpError(404, "no such pending approval")
                    chosen = [approval]
                else:
                    chosen = list(state.pending.values())
                for approval in chosen:
                    approval.approved = name == "approve"
                    approval.event.set()
                    state.pending.pop(approval.id, None)
            key = "approved" if name == "approve" else "denied"
            self._json(200, {key: [a.id for a in chosen]})
        elif (method, name) == ("POST", "mode"):
            mode = self._body().get("mode")
            if mode not in MODES:
                raise HttpError(400, f"mode must be one of {', '.join(MODES)}")
            with state.lock:
                state.mode = str(mode)
            self._json(200, {"mode": mode})
        elif (method, name) == ("POST", "config"):
            body = self._body()
            unknown = sorted(set(body) - set(DEFAULT_SETTINGS))
            if unknown:
                raise HttpError(400, f"unknown settings: {', '.join(unknown)}")
            with state.lock:
                state.settings.update(body)
                settings = dict(state.settings)
            self._json(200, settings)
        elif (method, name) == ("POST", "reset"):
            self._body()
            state.reset()
            self._json(200, {"ok": True})
        else:
            raise HttpError(404, f"no such control endpoint: {method} {name}")


API_ROUTES: dict[tuple[str, str], Callable[[Handler, dict[str, str]], None]] = {
    ("POST", "/token"): Handler.api_post_token,
    ("PATCH", "/token"): Handler.api_patch_token,
    ("POST", "/gen_key"): Handler.api_gen_key,
    ("POST", "/sign_cert"): Handler.api_sign_cert,
    ("GET", "/user"): Handler.api_get_user,
    ("PATCH", "/user"): Handler.api_patch_user,
    ("GET", "/quota"): Handler.api_get_quota,
}


def make_server(directory: Path, host: str, port: int) -> ThreadingHTTPServer:
    """A server bound to host:port serving the stand-in for ``directory/config.json``."""
    state = State(directory)
    handler = type("BoundHandler", (Handler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", required=True, type=Path, help="holds config.json")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default=18765, type=int, help="0 picks a free port")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    directory: Path = args.dir
    server = make_server(directory, args.host, args.port)
    host, port = server.server_address[:2]
    url = f"http://{host!s}:{port}"
    ready = directory / "ready.json"
    tmp = ready.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "port": port, "pid": os.getpid()}))
    tmp.replace(ready)  # atomic: a reader never sees half a file
    log.info("listening on %s", url)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
