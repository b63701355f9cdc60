"""core.negotiation answers as DRF's own negotiation does, for every Accept header and format override."""

import pytest
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from assistant.renderers import EventStreamRenderer
from core.negotiation import ContentNegotiation

ACCEPT_HEADERS = [
    None,
    "*/*",
    "application/json",
    "text/html",
    "text/event-stream",
    "application/json; indent=4",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "application/*",
    "image/png",
    "",
]
RENDERER_LISTS = [
    [JSONRenderer(), BrowsableAPIRenderer()],
    [BrowsableAPIRenderer(), JSONRenderer()],
    [EventStreamRenderer(), JSONRenderer()],
]


def choice(negotiation, request, renderers, format_suffix=None):
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, format_suffix)
    except NotAcceptable:
        return "406"
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPT_HEADERS)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?limit=5"])
@pytest.mark.parametrize("renderers", RENDERER_LISTS, ids=["json-first", "html-first", "sse-first"])
def test_the_same_renderer_and_media_type_as_drfs_negotiation(accept, query, renderers):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get("/api/v1/jobs/" + query, **headers))
    try:
        expected = choice(DefaultContentNegotiation(), request, renderers)
    except Exception as exc:  # an unknown format is DRF's Http404: the same error expected
        with pytest.raises(type(exc)):
            ContentNegotiation().select_renderer(request, renderers)
        return
    assert choice(ContentNegotiation(), request, renderers) == expected


def test_a_format_suffix_is_negotiated_as_drf_does():
    request = Request(APIRequestFactory().get("/api/v1/jobs/", HTTP_ACCEPT="*/*"))
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]
    expected = choice(DefaultContentNegotiation(), request, renderers, format_suffix="api")
    assert expected[0] is BrowsableAPIRenderer
    assert choice(ContentNegotiation(), request, renderers, format_suffix="api") == expected
