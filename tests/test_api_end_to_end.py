"""From a dialer's point of view: upload through the API, a real Django-Q2 cluster transcribes,
and a signed webhook arrives with the transcript's URL, which the API then serves."""

from urllib.parse import urlsplit

import pytest
from standardwebhooks.webhooks import Webhook

from api.models import WebhookDelivery, WebhookEndpoint
from tests.api_helpers import LocalServer, bearer, reply
from tests.workers import Cluster, wait_for
from transcripts.speech.wer import word_error_rate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_an_api_upload_is_transcribed_and_its_webhook_arrives(
    client, tmp_path, acme, alice, speech_sample, speech_script
):
    headers = bearer(alice)
    with LocalServer(lambda handler, number: reply(handler, 204)) as receiver:
        endpoint = WebhookEndpoint.objects.create(
            team=acme, url=receiver.url("/crm/callscribe"), events=["call.done"]
        )
        cluster = Cluster(
            tmp_path / "qcluster.log",
            OUTBOUND_ALLOWED_NETWORKS="127.0.0.1/32",
            SITE_URL="http://testserver",
        ).start()
        try:
            with speech_sample.open("rb") as handle:
                created = client.post(
                    "/api/v1/calls/", {"audio": handle, "title": "Follow-up"}, **headers
                )
            assert created.status_code == 201, created.content
            call_id = created.json()["id"]
            wait_for(
                lambda: receiver.received,
                timeout=240,
                message=f"the webhook:\n{cluster.log()}",
            )
        finally:
            cluster.stop()

    _method, path, request_headers, body = receiver.received[0]
    assert path == "/crm/callscribe"
    message = Webhook(endpoint.secret).verify(body, request_headers)
    assert message["type"] == "call.done"
    assert message["data"]["id"] == call_id
    transcript_url = message["data"]["transcript_url"]
    assert transcript_url == f"http://testserver/api/v1/calls/{call_id}/transcript/"
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.DELIVERED

    transcript = client.get(urlsplit(transcript_url).path, **headers).json()
    text = " ".join(segment["text"] for segment in transcript["segments"])
    assert word_error_rate(speech_script, text) < 0.15
    assert client.get(f"/api/v1/calls/{call_id}/", **headers).json()["status"] == "done"
