"""An S3-compatible server for tests: moto's ``ThreadedMotoServer`` on 127.0.0.1.

Fixtures (registered for the whole suite by ``tests/conftest.py``):
- ``s3_server`` (session): the server's base URL, ``http://127.0.0.1:<ephemeral port>``.
- ``s3_endpoint``: an ``S3Endpoint`` with a freshly created, empty bucket of its own (removed,
  with its objects and pending multipart uploads, after the test).

Talk to it with any S3 client: ``S3Endpoint.client()`` gives a boto3 one with the fake
credentials, ``S3Endpoint.blob_store()`` a ``storage.blobs.S3BlobStore``.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

REGION = "us-east-1"
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # fake server credentials


@dataclass(frozen=True)
class S3Endpoint:
    url: str
    bucket: str
    region: str = REGION
    access_key_id: str = ACCESS_KEY_ID
    secret_access_key: str = SECRET_ACCESS_KEY

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def blob_store(self, **kwargs: Any) -> Any:
        from storage.blobs import S3BlobStore

        return S3BlobStore(
            self.bucket,
            endpoint_url=self.url,
            region=self.region,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            **kwargs,
        )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_endpoint(s3_server: str) -> Iterator[S3Endpoint]:
    endpoint = S3Endpoint(url=s3_server, bucket=f"test-{uuid.uuid4().hex[:20]}")
    client = endpoint.client()
    client.create_bucket(Bucket=endpoint.bucket)
    try:
        yield endpoint
    finally:
        with contextlib.suppress(Exception):
            _empty_and_delete(client, endpoint.bucket)


def _empty_and_delete(client: Any, bucket: str) -> None:
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    for upload in uploads:
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)
