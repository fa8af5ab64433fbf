"""BlobStore over an S3-compatible object store (SeaweedFS, Ceph RGW, AWS S3, MinIO).

``blob_url = "s3://BUCKET/PREFIX?endpoint=http://127.0.0.1:8333&region=us-east-1"``; credentials from
``blob_s3_access_key_id`` / ``blob_s3_secret_access_key`` in the config file, else the standard AWS
environment variables and files (boto3's own chain). boto3 is the ``s3`` extra: without it the config
is refused at start with the command that installs it.

- Opening checks the bucket (``HeadBucket``; created when missing) so a wrong endpoint, bucket or
  credential is reported at start, naming the bucket and the endpoint, not at the first backup.
- ``put``: one ``PutObject`` (atomic: a reader sees the whole object or nothing); objects over
  ``MULTIPART_BYTES`` go as a multipart upload (also atomic: visible only once completed).
- ``get_range``: a ``Range`` read; a range outside the object is ``InvalidInput``, as the contract says.
- Retries with backoff on 5xx, throttling and dropped connections: botocore's ``standard`` retry mode.
- ``list`` pages ``ListObjectsV2`` (S3 lists keys in lexicographic order).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

from vaultlink.errors import InvalidInput, NotFound, ServiceUnavailable, StoreError
from vaultlink.ports import check_name, check_range

MULTIPART_BYTES = 64 << 20
_MISSING = ("NoSuchKey", "404", "NotFound")
_AWAY = ("500", "502", "503", "504", "InternalError", "ServiceUnavailable", "SlowDown", "Throttling",
         "RequestTimeout")


def _boto3() -> Any:
    try:
        import boto3  # lazy: the s3 extra; a config without s3:// never needs it
        from botocore.config import Config
    except ImportError:
        raise ServiceUnavailable(
            "blob_url s3://… needs the S3 client, which is the s3 extra: pip install 'vaultlink[s3]'.",
            field="blob_url",
        ) from None
    return boto3, Config


class S3BlobStore:
    write_once = False

    def __init__(self, url: str, access_key_id: str = "", secret_access_key: str = "") -> None:
        parsed = urlparse(url)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        if not self.bucket:
            raise InvalidInput(f"blob_url {url!r} names no bucket; write s3://BUCKET/PREFIX?endpoint=URL.",
                               field="blob_url")
        if self.prefix:
            check_name(self.prefix)
        self.endpoint = query.get("endpoint") or None
        boto3, config = _boto3()
        kwargs: dict[str, Any] = {}
        if access_key_id and secret_access_key:
            kwargs.update(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key)
        self._s3 = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name=query.get("region") or "us-east-1",
            config=config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=5, read_timeout=120,
                          max_pool_connections=32, s3={"addressing_style": "path"}),
            **kwargs,
        )
        self._error = self._s3.exceptions.ClientError
        self._check_bucket()

    def _where(self) -> str:
        return f"bucket {self.bucket} at {self.endpoint or 'the AWS default endpoint'}"

    def _check_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError

        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return
        except self._error as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise ServiceUnavailable(
                    f"the S3 blob store refused access to {self._where()} ({code}); check the credentials "
                    "(blob_s3_access_key_id and blob_s3_secret_access_key, or AWS_ACCESS_KEY_ID) and the bucket.",
                    field="blob_url",
                ) from None
        except BotoCoreError as exc:
            raise ServiceUnavailable(
                f"the S3 blob store is unreachable: {self._where()} ({exc}); check blob_url's endpoint.",
                field="blob_url",
            ) from None
        try:
            self._s3.create_bucket(Bucket=self.bucket)
        except (self._error, BotoCoreError) as exc:
            raise ServiceUnavailable(
                f"{self._where()} does not exist and could not be created ({exc}); create it first.",
                field="blob_url",
            ) from None

    def _key(self, name: str) -> str:
        name = check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _fail(self, exc: Exception, name: str) -> Exception:
        from botocore.exceptions import BotoCoreError

        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in _MISSING:
            return NotFound(f"blob {name!r} does not exist.")
        if isinstance(exc, BotoCoreError) or code in _AWAY:
            # down, restarting or throttling still after botocore's retries: retryable, and said so
            return ServiceUnavailable(f"the S3 blob store is unavailable: {self._where()} ({code or exc}); "
                                      "retry when it is back.")
        return StoreError(f"S3 {self._where()}: {name}: {code or exc}")

    def put(self, name: str, data: bytes | bytearray | memoryview) -> None:
        key = self._key(name)
        view = memoryview(data)
        try:
            if view.nbytes > MULTIPART_BYTES:
                self._s3.upload_fileobj(io.BytesIO(view), self.bucket, key)
            else:
                self._s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(view))
        except Exception as exc:
            raise self._fail(exc, name) from None

    def create(self, name: str, data: bytes | bytearray | memoryview) -> bool:
        """``PutObject`` with ``If-None-Match: *``: the server refuses (412) when the key exists. (Ceph RGW 16
        ignores the header in versioned buckets; there the service's own per-name lock is what serializes.)"""
        key = self._key(name)
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(memoryview(data)), IfNoneMatch="*")
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            raise self._fail(exc, name) from None
        return True

    def get(self, name: str) -> bytes:
        key = self._key(name)
        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise self._fail(exc, name) from None
        return body

    def get_range(self, name: str, offset: int, length: int) -> bytes:
        """One ranged GET (no HEAD first): S3 answers a start past the end with 416 and a range that runs
        past the end with fewer bytes; both are outside the object."""
        key = self._key(name)
        if offset < 0 or length <= 0:
            check_range(name, self.size(name), offset, length)
            return b""
        try:
            body: bytes = self._s3.get_object(Bucket=self.bucket, Key=key,
                                              Range=f"bytes={offset}-{offset + length - 1}")["Body"].read()
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code", "") == "InvalidRange":
                check_range(name, self.size(name), offset, length)
            raise self._fail(exc, name) from None
        if len(body) != length:
            check_range(name, self.size(name), offset, length)
            raise StoreError(f"S3 {self._where()}: {name}: asked {length} bytes at {offset}, got {len(body)}")
        return body

    def exists(self, name: str) -> bool:
        try:
            self.size(name)
        except NotFound:
            return False
        return True

    def size(self, name: str) -> int:
        key = self._key(name)
        try:
            return int(self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except Exception as exc:
            raise self._fail(exc, name) from None

    def delete(self, name: str) -> None:
        key = self._key(name)
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            err = self._fail(exc, name)
            if not isinstance(err, NotFound):
                raise err from None

    def list(self, prefix: str = "") -> Iterator[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents") or []:
                    yield str(obj["Key"])[len(base):]
        except Exception as exc:  # ClientError, or botocore's connection errors after its retries
            raise self._fail(exc, prefix or "(list)") from None
