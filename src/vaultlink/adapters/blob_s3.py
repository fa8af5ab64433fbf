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
  ``read_pieces``: the same one GET, its body handed on a piece at a time as it arrives (the data plane
  sends a piece while the next one is read).
- Retries with backoff on 5xx, throttling and dropped connections: botocore's ``standard`` retry mode.
- ``list`` pages ``ListObjectsV2`` (S3 lists keys in lexicographic order).
- **Versioned buckets** (S3 Object Lock needs one; ``?object_lock=true`` creates the bucket with it, and a
  bucket that has it is used with it): ``delete`` removes every version of the name (a plain DELETE would
  only hide it behind a delete marker and keep the bytes), and ``retain(name, until)`` puts the object
  under a COMPLIANCE retention that nobody, the bucket's owner included, can shorten or delete before.
- ``create`` (create-only) uses ``If-None-Match: *``. Some servers ignore it in versioned buckets (Ceph
  RGW 16 does): a probe at open finds out, and there ``create`` falls back to put-then-look: every writer
  puts its own version, the oldest version of the name wins, the others delete theirs and report the name
  taken. Readers see one version's bytes at every moment (content-addressed names: identical bytes).
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

from vaultlink.adapters.full import S3_FULL_CODES, blobs_full
from vaultlink.errors import InvalidInput, NotFound, ServiceUnavailable, StoreError
from vaultlink.ports import check_name, check_range

MULTIPART_BYTES = 64 << 20
STREAM_PIECE = 1 << 20  # ``read_pieces``: bytes per piece
_MISSING = ("NoSuchKey", "404", "NotFound")
_TAKEN = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")
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
    versioned = False
    object_lock = False
    if_none_match = True

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
        want_lock = query.get("object_lock", "").lower() in ("1", "true", "yes")
        self._check_bucket(want_lock)
        self.versioned, self.object_lock = self._bucket_mode()
        if want_lock and not self.object_lock:
            raise ServiceUnavailable(
                f"blob_url asks for S3 Object Lock, but {self._where()} was made without it (S3 turns it on "
                "only when a bucket is created): use a new bucket name, or drop object_lock from blob_url.",
                field="blob_url")
        self.if_none_match = self._probe_if_none_match()
        if not self.if_none_match and not self.versioned:  # no way to create a name only if it is absent
            raise ServiceUnavailable(
                f"{self._where()} ignores If-None-Match on an unversioned bucket, so writers on several servers "
                "could replace each other's data: use a versioned bucket (object_lock=true on a new bucket) or "
                "a server that supports conditional writes.", field="blob_url")

    def _where(self) -> str:
        return f"bucket {self.bucket} at {self.endpoint or 'the AWS default endpoint'}"

    def _check_bucket(self, object_lock: bool) -> None:
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
            if object_lock:
                self._s3.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
            else:
                self._s3.create_bucket(Bucket=self.bucket)
        except (self._error, BotoCoreError) as exc:
            raise ServiceUnavailable(
                f"{self._where()} does not exist and could not be created ({exc}); create it first.",
                field="blob_url",
            ) from None

    def _bucket_mode(self) -> tuple[bool, bool]:
        """(versioned, object lock enabled) of the bucket."""
        try:
            versioned = self._s3.get_bucket_versioning(Bucket=self.bucket).get("Status") == "Enabled"
        except Exception as exc:
            raise self._fail(exc, "(versioning)") from None
        try:
            conf = self._s3.get_object_lock_configuration(Bucket=self.bucket)
            locked = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
        except Exception:  # no configuration (or a server without the API): no lock
            locked = False
        return versioned or locked, locked

    def _probe_if_none_match(self) -> bool:
        """Does the server refuse a conditional PUT over an existing name? (RGW 16 in versioned buckets:
        no.) A throwaway name, every version of which is removed after."""
        name = f"vaultlink-probe/{secrets.token_hex(8)}"
        key = self._key(name)
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=b"1")
            try:
                self._s3.put_object(Bucket=self.bucket, Key=key, Body=b"2", IfNoneMatch="*")
                honored = False
            except self._error as exc:
                honored = exc.response.get("Error", {}).get("Code", "") in _TAKEN
        except Exception as exc:
            raise self._fail(exc, name) from None
        finally:
            self.delete(name)
        return honored

    def _key(self, name: str) -> str:
        name = check_name(name)
        return f"{self.prefix}/{name}" if self.prefix else name

    def _fail(self, exc: Exception, name: str) -> Exception:
        from botocore.exceptions import BotoCoreError

        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in _MISSING:
            return NotFound(f"blob {name!r} does not exist.")
        if code in S3_FULL_CODES:  # a quota (Ceph RGW), a full disk (MinIO): no retry brings room
            return blobs_full(name, self._where(), code)
        if isinstance(exc, BotoCoreError) or code in _AWAY:
            # down, restarting or throttling still after botocore's retries: retryable, and said so
            hint = (" If writes keep failing so, see the S3 server's log: SeaweedFS answers InternalError to a write "
                    "over an enforced bucket quota." if code == "InternalError" else "")
            return ServiceUnavailable(f"the S3 blob store is unavailable: {self._where()} ({code or exc}); "
                                      f"retry when it is back.{hint}")
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
        """``PutObject`` with ``If-None-Match: *``: the server refuses (412) when the key exists; where it
        ignores the header (the probe said so), put-then-look (the module's docstring)."""
        key = self._key(name)
        if not self.if_none_match:
            return self._create_versioned(name, key, data)
        try:
            self._s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(memoryview(data)), IfNoneMatch="*")
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code", "") in _TAKEN:
                return False
            raise self._fail(exc, name) from None
        return True

    def _create_versioned(self, name: str, key: str, data: bytes | bytearray | memoryview) -> bool:
        if self.exists(name):
            return False
        try:
            mine = self._s3.put_object(Bucket=self.bucket, Key=key, Body=bytes(memoryview(data)))["VersionId"]
            versions = [v for v in self._versions(key) if not v[1]]
        except Exception as exc:
            raise self._fail(exc, name) from None
        # the bucket index lists a name's versions newest first: the last one is the first written
        if versions and versions[-1][0] == mine:
            return True
        try:
            self._s3.delete_object(Bucket=self.bucket, Key=key, VersionId=mine)
        except Exception as exc:
            raise self._fail(exc, name) from None
        return False

    def _versions(self, key: str) -> list[tuple[str, bool]]:
        """(version id, is a delete marker) of every version of ``key``, newest first."""
        out: list[tuple[str, bool]] = []
        for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key):
            out += [(str(v["VersionId"]), False) for v in page.get("Versions") or [] if v["Key"] == key]
            out += [(str(v["VersionId"]), True) for v in page.get("DeleteMarkers") or [] if v["Key"] == key]
            if len(out) > 10_000:
                raise StoreError(f"S3 {self._where()}: {key} has over 10,000 versions")
        return out

    def retain(self, name: str, until: float) -> None:
        """Keep ``name`` (its current version) under a COMPLIANCE retention until ``until`` (epoch seconds) at
        least; a longer one already set stays (S3 refuses shortening it anyway)."""
        if not self.object_lock:
            raise StoreError(f"{self._where()} has no S3 Object Lock; create the bucket with it "
                             "(blob_url ...?object_lock=true on a new bucket).")
        key = self._key(name)
        when = datetime.fromtimestamp(until, tz=UTC).replace(microsecond=0) + timedelta(seconds=1)
        try:
            try:
                got = self._s3.get_object_retention(Bucket=self.bucket, Key=key).get("Retention", {})
                if got.get("Mode") == "COMPLIANCE" and got.get("RetainUntilDate") and got["RetainUntilDate"] >= when:
                    return
            except self._error as exc:
                if exc.response.get("Error", {}).get("Code", "") not in ("NoSuchObjectLockConfiguration",
                                                                         "ObjectLockConfigurationNotFoundError"):
                    raise
            self._s3.put_object_retention(Bucket=self.bucket, Key=key,
                                          Retention={"Mode": "COMPLIANCE", "RetainUntilDate": when})
        except Exception as exc:
            raise self._fail(exc, name) from None

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

    def read_pieces(self, name: str, offset: int, length: int) -> S3Pieces:
        """``get_range``'s one GET, its body read a piece at a time when asked; a missing object or a range
        outside it is refused now, before any piece."""
        key = self._key(name)
        if offset < 0 or length <= 0:
            check_range(name, self.size(name), offset, length)
            return S3Pieces(None, name, 0, self._where())
        try:
            resp = self._s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={offset}-{offset + length - 1}")
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code", "") == "InvalidRange":
                check_range(name, self.size(name), offset, length)
            raise self._fail(exc, name) from None
        pieces = S3Pieces(resp["Body"], name, length, self._where())
        if resp.get("ContentLength") != length:  # a range running past the end: fewer bytes
            pieces.close()
            check_range(name, self.size(name), offset, length)
            raise StoreError(f"S3 {self._where()}: {name}: asked {length} bytes at {offset}, got "
                             f"{resp.get('ContentLength')}")
        return pieces

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
        """Gone for good: in a versioned bucket every version (and delete marker) of the name is removed; a
        version under Object Lock refuses, and so does this (``StoreError`` saying so)."""
        key = self._key(name)
        try:
            if self.versioned:
                for version, _marker in self._versions(key):
                    self._s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version)
            else:
                self._s3.delete_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if getattr(exc, "response", {}).get("Error", {}).get("Code", "") == "AccessDenied" and self.object_lock:
                raise StoreError(f"S3 {self._where()}: {name} is under S3 Object Lock (COMPLIANCE) and cannot be "
                                 "deleted before its retention date.") from None
            err = self._fail(exc, name)
            if not isinstance(err, NotFound):
                raise err from None

    def list(self, prefix: str = "") -> Iterator[str]:
        for name, _size in self.sized(prefix):
            yield name

    def sized(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """``list`` with each object's size from the listing itself (``ports.SizedList``): no HEAD per object."""
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents") or []:
                    yield str(obj["Key"])[len(base):], int(obj.get("Size") or 0)
        except Exception as exc:  # ClientError, or botocore's connection errors after its retries
            raise self._fail(exc, prefix or "(list)") from None


class S3Pieces:
    """An S3 GET's body read ``STREAM_PIECE`` bytes at a time (``S3BlobStore.read_pieces``); the connection goes
    back to the pool once the body is read or closed. Not for two threads at once."""

    def __init__(self, body: Any, name: str, length: int, where: str) -> None:
        self._body, self._name, self._left, self._where = body, name, length, where

    def __iter__(self) -> S3Pieces:
        return self

    def __next__(self) -> bytes:
        if self._left <= 0 or self._body is None:
            self.close()
            raise StopIteration
        try:
            data: bytes = self._body.read(min(STREAM_PIECE, self._left))
        except Exception as exc:  # the connection dropped mid-body (urllib3's errors): the object store's failure
            self.close()
            raise StoreError(f"S3 {self._where}: reading {self._name} failed: {exc}") from None
        if not data:
            self.close()
            raise StoreError(f"S3 {self._where}: {self._name} ended {self._left} bytes early")
        self._left -= len(data)
        return data

    def close(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()
