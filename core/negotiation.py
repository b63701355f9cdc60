"""Content negotiation with a short way for the Accept headers API clients send.

DRF's negotiation parses the Accept header and every renderer's media type on each request. Clients of this API
(httpx, requests, fetch, aiohttp, the OpenAI SDKs) send no Accept header, `*/*`, or the first renderer's own media
type; for those, with no `?format=` and no format suffix, DRF's answer is always the first renderer with its own
media type, and this class gives it without parsing. Any other request is negotiated by DRF, unchanged.
"""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(self, request, renderers, format_suffix=None):
        override = self.settings.URL_FORMAT_OVERRIDE
        format_possible = format_suffix or (override and override in request.META.get("QUERY_STRING", ""))
        if renderers and not format_possible:
            first = renderers[0]
            if ";" not in first.media_type and request.META.get("HTTP_ACCEPT", "*/*") in ("*/*", first.media_type):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
