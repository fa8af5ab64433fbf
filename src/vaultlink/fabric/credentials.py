"""The one credential parser: exactly one credential per request, well-formed, or a refusal.

A credential is ``Authorization: Bearer <token>``, ``X-Api-Key: <token>`` or an AWS SigV4 signature
(``Authorization: AWS4-HMAC-SHA256 …``, returned whole: only the AWS front end, which verifies it against
the body, accepts it; every other route's key lookup refuses it). A request that carries
more than one (two ``Authorization`` headers, ``Authorization`` and ``X-Api-Key``, a repeated
``X-Api-Key``) is refused with ``AmbiguousCredentials``; one that is malformed (another scheme, any
surrounding whitespace, a byte outside printable ASCII, an empty or oversize token) with
``Unauthenticated``. Nothing is stripped or guessed: the token checked is the bytes that were sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from vaultlink import errors as E

MAX_TOKEN = 512
_TOKEN = re.compile(rb"[A-Za-z0-9_\-.~+/=]{1,%d}" % MAX_TOKEN)
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")
SIGV4_SCHEME = b"AWS4-HMAC-SHA256 "
MAX_SIGV4 = 4096


def credential_of(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's one credential token, None when it sent none; raises on two or a malformed one."""
    found: list[tuple[bytes, bytes]] = [(k, v) for k, v in headers if k.lower() in CREDENTIAL_HEADERS]
    if not found:
        return None
    if len(found) > 1:
        names = ", ".join(sorted({k.decode("latin-1").title() for k, _ in found}))
        raise E.AmbiguousCredentials(
            f"the request carries {len(found)} credentials ({names}); send exactly one: "
            "Authorization: Bearer TOKEN, or X-Api-Key: TOKEN."
        )
    name, value = found[0]
    token = value
    if name.lower() == b"authorization" and value.startswith(SIGV4_SCHEME):
        if len(value) > MAX_SIGV4 or not all(32 <= c < 127 for c in value):
            raise E.Unauthenticated("the AWS Authorization header is malformed; let an AWS SDK sign the request.")
        return value.decode("ascii")
    if name.lower() == b"authorization":
        scheme, sep, token = value.partition(b" ")
        if not sep or scheme.lower() != b"bearer":
            raise E.Unauthenticated(
                "the Authorization header must be 'Bearer TOKEN' (one space, no other scheme) or an AWS SigV4 "
                "signature; vaultlink takes no Basic or other credentials."
            )
    if not _TOKEN.fullmatch(token):
        raise E.Unauthenticated(
            "the credential is malformed: a token is printable ASCII letters, digits and -._~+/= only, with "
            f"no surrounding whitespace, at most {MAX_TOKEN} characters."
        )
    return token.decode("ascii")
