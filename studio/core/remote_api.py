"""The served engine's HTTP API as plain values, shared by the server and its clients.

    GET  /v1/health                   {"protocol", "studio", "replicas", "device"}
    GET  /v1/models                   {"models": [name, ...]}
    GET  /v1/samplers                 {"samplers": [name, ...]}
    POST /v1/jobs                     body: a Submit in the wire codec's JSON; the response is
                                      the job's events as wire frames, streamed as they happen
    POST /v1/jobs/{job_id}/cancel     body: {"keep_partial": bool}

Every route but health needs `Authorization: Bearer <token>` when the server has a token; a
refusal is a 4xx whose JSON body is {"error": "<one sentence>"}.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

API = "/v1"
HEALTH = f"{API}/health"
MODELS = f"{API}/models"
SAMPLERS = f"{API}/samplers"
JOBS = f"{API}/jobs"
FRAMES_TYPE = "application/x-studio-frames"
MAX_REQUEST_BYTES = 256 * 1024
TOKEN_ENV = "STUDIO_SERVE_TOKEN"
JOB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


def cancel_path(job_id: str) -> str:
    return f"{JOBS}/{job_id}/cancel"


def token_digest(token: str) -> str:
    """What a server keeps of its token: the SHA-256, never the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest() if token else ""


def token_matches(header: str | None, digest: str) -> bool:
    """Whether an Authorization header carries the token of `digest` (no digest: no token
    is asked for)."""
    if not digest:
        return True
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(token_digest(given.strip()), digest)


def valid_host(host: str) -> bool:
    """An IP address or a DNS name (underscores allowed, as container names use them)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        labels = host.rstrip(".").split(".")
        return len(host) <= 253 and all(HOST_LABEL.match(label) for label in labels)
    return True


@dataclass(frozen=True, slots=True)
class EngineAddress:
    """Where a served engine answers: an http(s) URL's scheme, host, port and path prefix."""

    scheme: str
    host: str
    port: int
    prefix: str = ""

    @classmethod
    def parse(cls, url: str) -> EngineAddress:
        """The address of a URL such as http://gpu-server:8000; ValueError in one sentence."""
        text = url.strip()
        if "://" not in text:
            text = f"http://{text}"
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"The engine URL must start with http:// or https://, not {url!r}.")
        if not parts.hostname:
            raise ValueError(f"The engine URL {url!r} names no host.")
        if not valid_host(parts.hostname):
            raise ValueError(f"The engine URL {url!r} names an invalid host {parts.hostname!r}.")
        if parts.query or parts.fragment or parts.username:
            raise ValueError(f"The engine URL {url!r} must hold no query, fragment or user.")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port is None:
            port = 443 if parts.scheme == "https" else 8000
        if not 0 < port < 65536:
            raise ValueError(f"The engine URL {url!r} has an invalid port.")
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.prefix}"

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK
