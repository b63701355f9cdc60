"""Job-finished callbacks: the target check (no loopback/private hosts unless allowed), HMAC signing, one POST.

Signature header: `X-Principled-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
so a receiver can verify the body and reject replays older than a few minutes.

The host is resolved once per delivery: the addresses that pass the check are the ones connected to (so a name
that re-resolves to 127.0.0.1 after the check cannot redirect the POST), with the original Host header and,
for https, the certificate verified against the host name. One attempt has a total deadline, so a receiver
that trickles its answer cannot hold a worker.
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from requests.certs import where as ca_bundle_path
from requests.utils import requote_uri

SIGNATURE_HEADER = "X-Principled-Signature"
# IPv6 ranges whose last 32 bits are an IPv4 address that a translator or the host itself connects to.
_IPV4_EMBEDDING_NETWORKS = [
    ipaddress.ip_network(n) for n in ("::/96", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
]


class CallbackUrlRejected(ValueError):
    """The URL is not an acceptable callback target; the message says why."""


class CallbackDeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached in time); worth retrying later."""


@dataclass(frozen=True)
class CallbackTarget:
    """A checked URL: where to connect (the checked addresses) and what to ask for there."""

    scheme: str
    hostname: str
    host_header: str  # the URL's host[:port], ASCII (IDNA)
    port: int
    path: str
    addresses: list[tuple[int, tuple]]  # (family, sockaddr) as getaddrinfo answered


def _address_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if not ip.is_global:
        return False
    if ip.version == 6:
        embedded = ip.sixtofour or next(
            (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) for net in _IPV4_EMBEDDING_NETWORKS if ip in net),
            None,
        )
        if embedded is not None and not embedded.is_global:
            return False
    return True


def callback_target_resolve(url: str) -> CallbackTarget:
    """Check `url` and resolve its host once; raise CallbackUrlRejected unless it is an http(s) URL whose
    addresses are all public (any address when GENERATION_CALLBACK_ALLOW_PRIVATE)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackUrlRejected("Must be an absolute http or https URL.")
    if parts.username or parts.password:
        raise CallbackUrlRejected("Must not carry credentials.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname.encode("idna").decode()
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, ValueError):  # UnicodeError included
        raise CallbackUrlRejected("The host cannot be resolved.") from None
    addresses = list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in infos))
    if not addresses:
        raise CallbackUrlRejected("The host cannot be resolved.")
    if not settings.GENERATION_CALLBACK_ALLOW_PRIVATE and not all(
        _address_public(sockaddr[0]) for _, sockaddr in addresses
    ):
        raise CallbackUrlRejected("Loopback, private and reserved addresses are not allowed.")
    path = requote_uri((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    return CallbackTarget(
        scheme=parts.scheme,
        hostname=parts.hostname,
        port=port,
        path=path,
        addresses=addresses,
        host_header=f"{host}:{parts.port}" if parts.port else host,
    )


def callback_url_check(url: str) -> None:
    """Raise CallbackUrlRejected unless `url` is http(s) and resolves only to public addresses."""
    callback_target_resolve(url)


def callback_signature(*, body: bytes, timestamp: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def callback_signature_valid(*, body: bytes, header: str, secret: str, max_age_seconds: int = 300) -> bool:
    """Receiver side of the scheme (used by tests and documented for clients)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > max_age_seconds:
        return False
    expected = callback_signature(body=body, timestamp=timestamp, secret=secret)
    return hmac.compare_digest(expected, header)


class _Deadline:
    """Shuts the attempt's socket down when the deadline passes, which ends any read or write blocked on it."""

    def __init__(self, seconds: float):
        self.ends_at = time.monotonic() + seconds
        self.expired = False
        self.sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)

    def remaining(self) -> float:
        left = self.ends_at - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self.sock = sock
            if self.expired and sock is not None:
                self._shutdown()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self.sock is not None:
                self._shutdown()

    def _shutdown(self) -> None:
        try:  # the plain socket's shutdown, under a TLS one too: the blocked TLS read then sees EOF
            socket.socket.shutdown(self.sock, socket.SHUT_RDWR)
        except OSError:
            pass  # not connected yet, or already closed

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()


def _connect(target: CallbackTarget, deadline: _Deadline) -> socket.socket:
    """A socket to the first checked address that accepts (TLS-wrapped for https, verified for the host name)."""
    error: OSError = OSError("no address")
    for family, sockaddr in target.addresses:
        sock = socket.socket(family, socket.SOCK_STREAM)
        deadline.watch(sock)
        try:
            sock.settimeout(deadline.remaining())
            sock.connect(sockaddr)
            break
        except OSError as exc:
            sock.close()
            error = exc
    else:
        raise error
    if target.scheme == "https":
        context = ssl.create_default_context(cafile=ca_bundle_path())
        sock = context.wrap_socket(sock, server_hostname=target.hostname, do_handshake_on_connect=False)
        deadline.watch(sock)
        sock.do_handshake()  # under the deadline too
    return sock


def _post_once(target: CallbackTarget, *, body: bytes, headers: dict[str, str], deadline: _Deadline) -> int:
    """Send the POST over a pinned socket and read only the status line and headers; the status code."""
    connection = http.client.HTTPConnection(target.hostname, target.port)
    try:
        connection.sock = _connect(target, deadline)
        connection.request("POST", target.path, body=body, headers={"Host": target.host_header, **headers})
        return connection.getresponse().status
    finally:
        connection.close()
        deadline.watch(None)


def callback_post(*, url: str, body: bytes, job_id: str, secret: str) -> None:
    """POST the body, signed with `secret`, once; raise CallbackDeliveryFailed on a transport error, a non-2xx
    answer, or no answer within GENERATION_CALLBACK_TIMEOUT_SECONDS in all (connect, send and the status line
    and headers)."""
    target = callback_target_resolve(url)  # again at delivery: DNS may have changed since submission
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Principled-Callback/1",
        "X-Principled-Event": "job.finished",
        "X-Principled-Job": job_id,
        SIGNATURE_HEADER: callback_signature(
            body=body,
            timestamp=int(time.time()),
            secret=secret,
        ),
    }
    seconds = settings.GENERATION_CALLBACK_TIMEOUT_SECONDS
    with _Deadline(seconds) as deadline:
        try:
            status = _post_once(target, body=body, headers=headers, deadline=deadline)
        except (OSError, http.client.HTTPException) as exc:
            if deadline.expired or isinstance(exc, TimeoutError):
                raise CallbackDeliveryFailed(f"No answer within {seconds:g} s.") from exc
            raise CallbackDeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= status < 300:
        raise CallbackDeliveryFailed(f"Receiver answered {status}.")
