import json
import re
import socket
import threading
import time

import pytest

from assistant.callback_services import job_callback_deliver
from assistant.callbacks import (
    SIGNATURE_HEADER,
    CallbackDeliveryFailed,
    CallbackUrlRejected,
    callback_post,
    callback_signature,
    callback_signature_valid,
    callback_url_check,
)
from assistant.models import GenerationJob
from tests.chat.receiver import CallbackReceiver
from worker.in_process import job_callback_deliver_with_retries


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://localhost:8000/x",
        "http://[::1]/x",
        "http://10.0.0.8/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/x",
        "file:///etc/passwd",
        "http://user:pw@8.8.8.8/",
        "not a url",
    ],
)
def test_unsafe_targets_are_refused(url, settings):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = False
    with pytest.raises(CallbackUrlRejected):
        callback_url_check(url)


def test_public_address_and_allowed_private_targets(settings):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = False
    callback_url_check("https://8.8.8.8/hook")
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    callback_url_check("http://127.0.0.1:9000/hook")


def test_signature_round_trip_and_tamper():
    header = callback_signature(body=b'{"a":1}', timestamp=int(time.time()), secret="s3cret")
    assert callback_signature_valid(body=b'{"a":1}', header=header, secret="s3cret")
    assert not callback_signature_valid(body=b'{"a":2}', header=header, secret="s3cret")
    assert not callback_signature_valid(body=b'{"a":1}', header=header, secret="other")
    old = callback_signature(body=b"x", timestamp=1000, secret="s3cret")
    assert not callback_signature_valid(body=b"x", header=old, secret="s3cret")


@pytest.mark.django_db
def test_signed_callback_delivered_when_the_job_ends(alice_client, conversation, settings, run_jobs, monkeypatch):
    from config.celery_app import app

    monkeypatch.setattr(app.conf, "task_eager_propagates", False)  # eager apply() then runs the retries
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    settings.GENERATION_CALLBACK_BACKOFF_SECONDS = 0
    with CallbackReceiver(statuses=[503, 200]) as receiver, run_jobs():
        response = alice_client.post(
            f"/api/v1/conversations/{conversation.pk}/messages/", {"content": "Hi", "callback_url": receiver.url}
        )
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert len(receiver.requests) == 2  # one refusal, then delivered on the retry
    headers, body = receiver.requests[-1]
    secret = alice_client.get("/api/v1/callbacks/secret/").json()["secret"]
    assert callback_signature_valid(body=body, header=headers[SIGNATURE_HEADER], secret=secret)
    payload = json.loads(body)
    assert payload["event"] == "job.finished" and payload["job"]["id"] == str(job.pk)
    assert payload["job"]["reply"]["content"] == "echo Hi (0 principles, alpha 3.0)"
    assert job.callback_status == "delivered" and job.callback_attempts == 2


@pytest.mark.django_db
def test_in_process_delivery_gives_up_after_max_attempts(alice, settings):
    from assistant.services import completion_submit

    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    settings.GENERATION_CALLBACK_BACKOFF_SECONDS = 0
    settings.GENERATION_CALLBACK_MAX_ATTEMPTS = 3
    job, _ = completion_submit(user=alice, messages=[{"role": "user", "content": "Hi"}], generation_settings={})
    with CallbackReceiver(statuses=[500, 500, 500, 500]) as receiver:
        GenerationJob.objects.filter(pk=job.pk).update(
            callback_url=receiver.url, callback_status="pending", status="succeeded"
        )
        job_callback_deliver_with_retries(job_id=job.pk)
    job.refresh_from_db()
    assert len(receiver.requests) == 3
    assert job.callback_status == "failed" and job.callback_attempts == 3


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "64:ff9b:1::a00:1",
        "2002:7f00:1::1",
        "2002:a9fe:a9fe::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::7f00:1",
    ],
)
def test_ipv6_addresses_embedding_a_private_ipv4_are_refused(address, settings):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = False
    with pytest.raises(CallbackUrlRejected):
        callback_url_check(f"http://[{address}]/hook")


def test_ipv6_addresses_embedding_a_public_ipv4_are_allowed(settings):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = False
    for address in ("64:ff9b::808:808", "2002:808:808::1", "2001:4860:4860::8888"):
        callback_url_check(f"http://[{address}]/hook")


def test_the_post_goes_to_the_address_that_was_checked(settings, monkeypatch):
    """DNS rebinding: a name that answers a public address to the check, then 127.0.0.1, reaches nothing local."""
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = False
    settings.GENERATION_CALLBACK_TIMEOUT_SECONDS = 1
    real_getaddrinfo = socket.getaddrinfo
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "8.8.8.8" if len(lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    with CallbackReceiver() as receiver:
        url = f"http://rebind.example:{receiver.server.server_port}/hook"
        with pytest.raises(CallbackDeliveryFailed):  # 8.8.8.8 does not answer on the receiver's port
            callback_post(url=url, body=b"{}", job_id="job", secret="s")
    assert receiver.requests == []


class TricklingReceiver:
    """Accepts one connection and answers its POST one byte every `interval` seconds."""

    def __init__(self, interval: float, header_bytes: int):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/hook"
        self.answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * header_bytes + b"\r\nContent-Length: 0\r\n\r\n"
        self.interval = interval
        self.received = b""
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _request_complete(self) -> bool:
        head, separator, body = self.received.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        return bool(separator) and len(body) >= int(length.group(1) if length else 0)

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection:
            connection.settimeout(10)
            while not self._request_complete():
                self.received += connection.recv(65536)
            for byte in self.answer:
                if self.stop.wait(self.interval):
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return  # the sender gave up
            connection.recv(1)  # the sender closes first, so closing here resets nothing it has yet to read

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()


@pytest.mark.django_db
def test_a_trickling_receiver_is_given_up_on_at_the_deadline(alice, settings):
    from assistant.services import completion_submit

    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    settings.GENERATION_CALLBACK_TIMEOUT_SECONDS = 1
    job, _ = completion_submit(user=alice, messages=[{"role": "user", "content": "Hi"}], generation_settings={})
    with TricklingReceiver(interval=0.1, header_bytes=100) as receiver:  # about 12 s for the whole answer
        GenerationJob.objects.filter(pk=job.pk).update(
            callback_url=receiver.url, callback_status="pending", status="succeeded"
        )
        started = time.monotonic()
        delivered = job_callback_deliver(job_id=job.pk, final_attempt=False)
        elapsed = time.monotonic() - started
    job.refresh_from_db()
    assert delivered is False and elapsed < 3 * settings.GENERATION_CALLBACK_TIMEOUT_SECONDS
    assert job.callback_status == "pending" and job.callback_attempts == 1  # retried later


def test_https_is_spoken_to_the_pinned_address(settings):
    """An https URL gets a TLS handshake: a plain-HTTP receiver fails it, so nothing is delivered."""
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    with CallbackReceiver() as receiver, pytest.raises(CallbackDeliveryFailed):
        callback_post(url=receiver.url.replace("http://", "https://"), body=b"{}", job_id="job", secret="s")
    assert receiver.requests == []


def test_the_request_keeps_the_urls_host_and_path(settings, monkeypatch):
    settings.GENERATION_CALLBACK_ALLOW_PRIVATE = True
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *args, **kwargs: [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))
        ],
    )
    with TricklingReceiver(interval=0, header_bytes=1) as receiver:
        url = f"http://receiver.example:{receiver.listener.getsockname()[1]}/hooks/é?x=1 2"
        callback_post(url=url, body=b"{}", job_id="job", secret="s")
    request_line, *header_lines = receiver.received.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert request_line == "POST /hooks/%C3%A9?x=1%202 HTTP/1.1"
    assert f"Host: {url.split('/')[2]}" in header_lines
