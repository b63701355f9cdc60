"""A DRF view's JSON answer made once and sent as it is.

A view that keeps a representation as the bytes DRF's JSON renderer writes for it (the job poll keeps one per
distinct row, core.row_memo) would otherwise parse them back into objects for a `Response`, which DRF's renderer
then encodes again, through Django's template-response machinery: on the job poll that round trip was about an
eighth of the request's CPU in-process. Where DRF's content negotiation chose its `JSONRenderer` with no `indent`
parameter, `rendered_json_response` answers the bytes themselves, which are byte for byte what that renderer
writes; any other negotiated renderer (the browsable API, an indented JSON) gets a `Response` of the parsed bytes,
rendered by DRF as before. Everything else of DRF's request cycle (authentication, permissions, throttles, the
negotiation, the exception handler, the `Allow` and `Vary` headers) runs unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response


def render_json(data: Any) -> bytes:
    """`data` as DRF's JSON renderer writes it with no indent (under the current REST_FRAMEWORK settings)."""
    return JSONRenderer().render(data)


def rendered_json_response(request: Request, body: bytes) -> HttpResponseBase:
    """`body` (from `render_json`) as the answer to `request`, from a view's handler (DRF negotiated before it)."""
    renderer = getattr(request, "accepted_renderer", None)
    media_type = getattr(request, "accepted_media_type", "") or ""
    if type(renderer) is JSONRenderer and (";" not in media_type or renderer.get_indent(media_type, {}) is None):
        return HttpResponse(body, content_type=renderer.media_type)
    return Response(json.loads(body))
