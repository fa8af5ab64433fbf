"""Errors of the AWS compatibility surface (``compat/aws``): SigV4 refusals and AWS wire input."""

from __future__ import annotations

from vaultlink.errors.base import InvalidInput, NotFound, Unauthenticated


class IncompleteSignature(Unauthenticated):
    """The AWS Authorization header is malformed: it must be AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/
    aws4_request, SignedHeaders=…, Signature=…, and sign host and x-amz-date; let an AWS SDK sign the request."""

    code = "IncompleteSignature"
    http_status = 403
    exit_code = 3


class SignatureDoesNotMatch(Unauthenticated):
    """The request's SigV4 signature does not match: check the secret access key and that nothing changed the
    request (body, path, signed headers) after it was signed."""

    code = "SignatureDoesNotMatch"
    http_status = 403
    exit_code = 3


class RequestExpired(Unauthenticated):
    """The request was signed more than 15 minutes from the server's clock (or replayed later than that);
    check the clock of the machine that signs, and sign again."""

    code = "RequestExpired"
    http_status = 403
    exit_code = 3


class InvalidClientTokenId(Unauthenticated):
    """The AWS access key id is not one vaultlink issued, or it was revoked; create one with
    `vaultlink key create --aws`."""

    code = "InvalidClientTokenId"
    http_status = 403
    exit_code = 3


class SigningRegionMismatch(Unauthenticated):
    """The request was signed for another region than the one that serves it; set the client's region
    (AWS_DEFAULT_REGION, region_name=) to the endpoint's region."""

    code = "SigningRegionMismatch"
    http_status = 403
    exit_code = 3


class UnknownOperation(NotFound):
    """No operation of this AWS API answers that request; the README's conformance table lists what is
    implemented."""

    code = "UnknownOperation"
    http_status = 404
    exit_code = 4


class MalformedXml(InvalidInput):
    """The request body is not what the operation's AWS protocol expects; let the SDK serialize it."""

    code = "MalformedAwsRequest"
    http_status = 400
    exit_code = 2
