"""The control-side S3 server is reachable from lab hosts with the recorded settings."""

from __future__ import annotations

import uuid

import boto3
import pytest

from counselkit.lab import LabState

# the S3 check reaches the server from every lab host: none may be in the middle of a molecule scenario's reset
pytestmark = [pytest.mark.lab, pytest.mark.usefixtures("lab_at_rest")]


def _client(lab: LabState):
    assert lab.s3 is not None
    return boto3.client(
        "s3",
        endpoint_url=lab.s3.endpoint,
        region_name=lab.s3.region,
        aws_access_key_id=lab.s3.access_key,
        aws_secret_access_key=lab.s3.secret_key,
    )


def test_s3_settings_are_recorded(lab: LabState) -> None:
    assert lab.s3 is not None
    assert lab.s3.endpoint == "http://10.248.0.1:9000"
    assert len(lab.s3.access_key) >= 16 and len(lab.s3.secret_key) >= 32


def test_s3_server_answers_from_every_host(lab: LabState, run_on) -> None:
    bucket = f"lab-check-{uuid.uuid4().hex[:8]}"
    s3 = _client(lab)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": lab.s3.region})
    for host in lab.hosts:
        script = (
            "import urllib.request\n"
            f"base = '{lab.s3.endpoint}'\n"
            "print(urllib.request.urlopen(base + '/', timeout=10).read().decode())\n"
            f"req = urllib.request.Request(base + '/{bucket}/from-{host.name}', data=b'{host.name}', method='PUT',\n"
            # urllib's default form content type would make the server parse the body as a form.
            "    headers={'Content-Type': 'application/octet-stream'})\n"
            "urllib.request.urlopen(req, timeout=10)\n"
        )
        listing = run_on(host, f"python3 - <<'EOF'\n{script}EOF")
        assert f"<Name>{bucket}</Name>" in listing
        body = s3.get_object(Bucket=bucket, Key=f"from-{host.name}")["Body"].read()
        assert body == host.name.encode()
