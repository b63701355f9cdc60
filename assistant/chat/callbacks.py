"""Job-finished callbacks: the target check (no loopback/private hosts unless allowed), HMAC signing, one POST.

Signature header: `X-Principled-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`,
so a receiver can verify the body and reject replays older than a few minutes.
"""
import hashlib
import hmac
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import requests
from django.conf import settings

SIGNATURE_HEADER = "X-Principled-Signature"


class CallbackUrlRejected(ValueError):
    """The URL is not an acceptable callback target; the message says why."""


class CallbackDeliveryFailed(Exception):
    """The receiver did not answer 2xx (or could not be reached); worth retrying later."""


def callback_url_check(url: str) -> None:
    """Raise CallbackUrlRejected unless `url` is http(s) and resolves only to public addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackUrlRejected("Must be an absolute http or https URL.")
    if parts.username or parts.password:
        raise CallbackUrlRejected("Must not carry credentials.")
    if settings.GENERATION_CALLBACK_ALLOW_PRIVATE:
        return
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)}
    except (OSError, ValueError):
        raise CallbackUrlRejected("The host cannot be resolved.") from None
    for address in addresses:
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise CallbackUrlRejected("Loopback, private and reserved addresses are not allowed.")


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


def callback_post(*, url: str, body: bytes, job_id: str) -> None:
    """POST the signed body once; raise CallbackDeliveryFailed on a transport error or a non-2xx answer."""
    callback_url_check(url)  # again at delivery: DNS may have changed since submission
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Principled-Callback/1",
        "X-Principled-Event": "job.finished",
        "X-Principled-Job": job_id,
        SIGNATURE_HEADER: callback_signature(
            body=body, timestamp=int(time.time()), secret=settings.GENERATION_CALLBACK_SECRET,
        ),
    }
    try:
        response = requests.post(
            url, data=body, headers=headers, timeout=settings.GENERATION_CALLBACK_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise CallbackDeliveryFailed(str(exc)) from exc
    if not 200 <= response.status_code < 300:
        raise CallbackDeliveryFailed(f"Receiver answered {response.status_code}.")
