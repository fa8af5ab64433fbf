"""AWS Signature Version 4, checked server-side by recomputing it with botocore's own signer.

``parse`` reads the ``Authorization`` header (one credential, well-formed, or a refusal); ``verify``
rebuilds the request as the client signed it — method, path as sent, query, exactly the signed headers,
the body — and asks ``botocore.auth.SigV4Auth`` for the signature, so the server computes what every
AWS SDK computes (path double-encoding, header trimming, query ordering) with no hand-written copy.
A request signed more than :data:`MAX_SKEW` seconds from the server's clock is refused: that also ends
the life of a captured request (a replay later than that window fails).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from vaultlink import errors as E

ALGORITHM = b"AWS4-HMAC-SHA256"
MAX_SKEW = 15 * 60  # seconds, as AWS allows
MAX_HEADER = 4096
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]{16,128})/(?P<date>\d{8})/(?P<region>[a-z0-9-]{1,32})/"
    r"(?P<service>[a-z0-9-]{1,32})/aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9\-;.]{1,1024}), ?"
    r"Signature=(?P<sig>[0-9a-f]{64})$"
)
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")


@dataclass(frozen=True, slots=True)
class SigV4:
    """A parsed Authorization header: who claims to sign, for which day, region and service."""

    access_key: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def is_sigv4(value: bytes) -> bool:
    return value[: len(ALGORITHM) + 1] == ALGORITHM + b" "


def parse(value: bytes) -> SigV4:
    """The claim an ``Authorization: AWS4-HMAC-SHA256 …`` header makes; ``IncompleteSignature`` otherwise."""
    if len(value) > MAX_HEADER:
        raise E.IncompleteSignature("the Authorization header is too long.")
    m = _AUTH.match(value.decode("latin-1"))
    if m is None:
        raise E.IncompleteSignature()
    headers = tuple(m.group("headers").split(";"))
    if "host" not in headers or "x-amz-date" not in headers:
        raise E.IncompleteSignature("the signature must cover the host and x-amz-date headers.")
    return SigV4(m.group("key"), m.group("date"), m.group("region"), m.group("service"), headers, m.group("sig"))


def signed_time(headers: Sequence[tuple[bytes, bytes]]) -> tuple[str, float]:
    """The request's ``X-Amz-Date`` (as sent, and as a Unix time)."""
    for k, v in headers:
        if k.lower() == b"x-amz-date":
            text = v.decode("latin-1").strip()
            if _AMZ_DATE.match(text):
                return text, float(calendar.timegm(time.strptime(text, "%Y%m%dT%H%M%SZ")))
    raise E.IncompleteSignature("the request has no valid X-Amz-Date header (YYYYMMDDTHHMMSSZ).")


def verify(
    sig: SigV4,
    secret: str,
    method: str,
    raw_path: bytes,
    query: bytes,
    headers: Sequence[tuple[bytes, bytes]],
    body: bytes,
    now: float,
) -> None:
    """Raise unless ``sig`` is the signature of this request with ``secret``, made within :data:`MAX_SKEW`."""
    amz_date, when = signed_time(headers)
    if amz_date[:8] != sig.date:
        raise E.IncompleteSignature("the credential scope's date is not the day of X-Amz-Date.")
    if abs(now - when) > MAX_SKEW:
        raise E.RequestExpired(
            f"the request was signed at {amz_date}, {abs(now - when) / 60:.0f} minutes from the server's clock; "
            f"signatures are valid for {MAX_SKEW // 60} minutes. Check the signing machine's clock and sign again."
        )
    values: dict[str, list[str]] = {}
    for k, v in headers:
        name = k.decode("latin-1").lower()
        if name in sig.signed_headers:
            values.setdefault(name, []).append(v.decode("latin-1"))
    missing = [h for h in sig.signed_headers if h not in values]
    if missing:
        raise E.SignatureDoesNotMatch(f"signed header(s) {', '.join(missing)} are not in the request.")
    declared = values.get("x-amz-content-sha256")
    if declared is not None and declared != [hashlib.sha256(body).hexdigest()]:
        # the signature would cover the declared hash, not the body that came: refused (no unsigned payloads)
        raise E.SignatureDoesNotMatch("X-Amz-Content-SHA256 is not the SHA-256 of the body that was sent.")
    path = raw_path.decode("latin-1") or "/"
    url = "https://" + values["host"][0].strip() + path + ("?" + query.decode("latin-1") if query else "")
    request = AWSRequest(method=method, url=url, data=body)
    for name, vals in values.items():
        request.headers[name] = ",".join(vals)
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(sig.access_key, secret), sig.service, sig.region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, sig.signature):
        raise E.SignatureDoesNotMatch()
