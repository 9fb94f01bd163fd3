"""Two transcription machines sharing nothing on disk: recordings only in the object store."""

from __future__ import annotations

import pytest

from bench.clusters import make_clip, run
from transcripts.models import Call

pytestmark = [pytest.mark.slow, pytest.mark.objectstorage, pytest.mark.django_db(transaction=True)]


def test_two_clusters_share_uploads_and_transcribe_each_exactly_once(
    s3_recordings, alice, settings, tmp_path
):
    result = run(
        work=tmp_path,
        user=alice,
        s3_env=s3_recordings.env,
        clusters=2,
        calls=8,
        clip=make_clip(tmp_path / "clip.mp3", 10),
        secret_key=settings.SECRET_KEY,
    )
    assert result.problems == []
    assert Call.objects.filter(status=Call.Status.DONE).count() == 8
    assert sorted(result.per_cluster) == ["machine-1", "machine-2"]
    assert all(count > 0 for count in result.per_cluster.values())
    assert sum(result.per_cluster.values()) == 8
    # Every recording is in the bucket, and nowhere on the machines' disks.
    assert len(s3_recordings.keys()) == 8
