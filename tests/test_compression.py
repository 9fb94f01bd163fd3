"""Compressed responses: pages and downloads are gzipped, except where BREACH could use it."""

import gzip

from django.urls import reverse


def get(client, url: str, **params):
    return client.get(url, params, HTTP_ACCEPT_ENCODING="gzip")


def test_pages_and_downloads_are_compressed(client_for, alice, dual_call):
    client = client_for(alice)
    for url in [
        reverse("transcripts:call_list"),
        dual_call.get_absolute_url(),
        reverse("transcripts:call_export", args=[dual_call.uuid, "json"]),
    ]:
        response = get(client, url)
        assert response["Content-Encoding"] == "gzip", url
        assert gzip.decompress(response.content)


def test_responses_that_reflect_a_query_are_not_compressed(client_for, alice, dual_call):
    client = client_for(alice)
    for url in [reverse("transcripts:search"), dual_call.get_absolute_url()]:
        response = get(client, url, q="pricing")
        assert not response.has_header("Content-Encoding"), url


def test_audio_is_never_compressed(client_for, alice, dual_call):
    response = get(client_for(alice), reverse("transcripts:call_audio", args=[dual_call.uuid]))
    assert not response.has_header("Content-Encoding")
