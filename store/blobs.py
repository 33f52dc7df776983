"""Where the documents' sealed bytes are kept: a folder of the data dir (the embedded default)
or an S3-compatible object store (a deployment at scale). Both hold ciphertext only (sealed
with the citizen's key before it gets here); a key is ``<journey uuid>/<document id>``, both
hex made by lnere, never a name a person gave."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Protocol

KEY = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[0-9a-f]{32}")


def blob_key(journey_uuid: str, document_id: str) -> str:
    key = f"{journey_uuid}/{document_id}"
    if not KEY.fullmatch(key):
        raise ValueError("a document's key is its journey's uuid and its own hex id")
    return key


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def close(self) -> None: ...


class FileBlobStore:
    """Files under a folder, 0600, written whole or not at all."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if not KEY.fullmatch(key):
            raise ValueError("not a document key")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def close(self) -> None:
        pass


class S3BlobStore:
    """Objects of one bucket of an S3-compatible store (boto3), created if missing."""

    def __init__(self, bucket: str, endpoint_url: str | None, region: str, access_key_id: str | None,
                 secret_access_key: str | None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30))
        self._ensure_bucket()

    def _ensure_bucket(self) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)

    def put(self, key: str, data: bytes) -> None:
        blob_key(*key.split("/", 1))
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def close(self) -> None:
        self.client.close()
