"""The ASGI scope of one HTTP request to the application, as a server on 127.0.0.1:8000 would pass it."""

from __future__ import annotations


def http_scope(method: str, path: str, *, token: str = "", query: str = "", json_length: int = 0) -> dict:
    """With `token`, the API's Authorization header; with `json_length`, a JSON body of that many bytes."""
    headers = [(b"host", b"127.0.0.1")]
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    if json_length:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(json_length).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
