"""vaultlink's stable error codes in the AWS APIs' own words, so botocore raises its typed exceptions.

One table per protocol family, looked up along the error's class tree (the most specific class first).
An EC2 handler may name the exact AWS code (``aws_code="InvalidVpcID.NotFound"``) in the error's details.
"""

from __future__ import annotations

from vaultlink import errors as E

_BACKUP: dict[type[E.VaultlinkError], tuple[str, int]] = {
    E.IncompleteSignature: ("IncompleteSignatureException", 403),
    E.AmbiguousCredentials: ("IncompleteSignatureException", 403),
    E.SignatureDoesNotMatch: ("InvalidSignatureException", 403),
    E.RequestExpired: ("InvalidSignatureException", 403),
    E.SigningRegionMismatch: ("InvalidSignatureException", 403),
    E.InvalidClientTokenId: ("UnrecognizedClientException", 403),
    E.Unauthenticated: ("MissingAuthenticationTokenException", 403),
    E.InvalidApiKey: ("UnrecognizedClientException", 403),
    E.AccessDenied: ("AccessDeniedException", 403),
    E.UnknownOperation: ("UnknownOperationException", 404),
    E.MalformedJSON: ("SerializationException", 400),
    E.PayloadTooLarge: ("RequestEntityTooLargeException", 413),
    E.MissingField: ("MissingParameterValueException", 400),
    E.InvalidInput: ("InvalidParameterValueException", 400),
    E.AlreadyExists: ("AlreadyExistsException", 400),
    E.NotFound: ("ResourceNotFoundException", 400),
    E.Conflict: ("InvalidRequestException", 400),
    E.RequestLimitExceeded: ("ThrottlingException", 400),
    E.ServiceUnavailable: ("ServiceUnavailableException", 503),
    E.StorageFull: ("DependencyFailureException", 507),  # 507: botocore's retries leave it alone
    E.StoreError: ("DependencyFailureException", 500),
}

_EC2: dict[type[E.VaultlinkError], tuple[str, int]] = {
    E.IncompleteSignature: ("IncompleteSignature", 400),
    E.AmbiguousCredentials: ("IncompleteSignature", 400),
    E.SignatureDoesNotMatch: ("SignatureDoesNotMatch", 403),
    E.RequestExpired: ("RequestExpired", 400),
    E.SigningRegionMismatch: ("SignatureDoesNotMatch", 403),
    E.InvalidClientTokenId: ("AuthFailure", 401),
    E.Unauthenticated: ("AuthFailure", 401),
    E.InvalidApiKey: ("AuthFailure", 401),
    E.AccessDenied: ("UnauthorizedOperation", 403),
    E.UnknownOperation: ("InvalidAction", 400),
    E.PayloadTooLarge: ("RequestEntityTooLarge", 413),
    E.MissingField: ("MissingParameter", 400),
    E.InvalidCidr: ("InvalidParameterValue", 400),
    E.InvalidInput: ("InvalidParameterValue", 400),
    E.AlreadyExists: ("InvalidParameterValue", 400),
    E.NotFound: ("InvalidParameterValue", 400),
    E.Conflict: ("DependencyViolation", 400),
    E.RequestLimitExceeded: ("RequestLimitExceeded", 503),
    E.ServiceUnavailable: ("Unavailable", 503),
    E.StorageFull: ("InternalError", 507),
    E.StoreError: ("InternalError", 500),
}

_STS: dict[type[E.VaultlinkError], tuple[str, int]] = {
    E.IncompleteSignature: ("IncompleteSignature", 400),
    E.AmbiguousCredentials: ("IncompleteSignature", 400),
    E.SignatureDoesNotMatch: ("SignatureDoesNotMatch", 403),
    E.RequestExpired: ("SignatureDoesNotMatch", 403),
    E.SigningRegionMismatch: ("SignatureDoesNotMatch", 403),
    E.InvalidClientTokenId: ("InvalidClientTokenId", 403),
    E.Unauthenticated: ("MissingAuthenticationToken", 403),
    E.InvalidApiKey: ("InvalidClientTokenId", 403),
    E.AccessDenied: ("AccessDenied", 403),
    E.UnknownOperation: ("InvalidAction", 400),
    E.MissingField: ("MissingParameter", 400),
    E.InvalidInput: ("InvalidParameterValue", 400),
    E.RequestLimitExceeded: ("Throttling", 400),
    E.ServiceUnavailable: ("ServiceUnavailable", 503),
    E.StorageFull: ("InternalFailure", 507),
}

# boto3's backup-gateway: its model's six error shapes, with the authentication ones the JSON services share
_GATEWAY: dict[type[E.VaultlinkError], tuple[str, int]] = {
    **{k: v for k, v in _BACKUP.items() if v[1] == 403 and k is not E.AccessDenied},
    E.AccessDenied: ("AccessDeniedException", 403),
    E.UnknownOperation: ("UnknownOperationException", 404),
    E.MalformedJSON: ("SerializationException", 400),
    E.PayloadTooLarge: ("RequestEntityTooLargeException", 413),
    E.InvalidInput: ("ValidationException", 400),
    E.NotFound: ("ResourceNotFoundException", 404),
    E.Conflict: ("ConflictException", 409),
    E.RequestLimitExceeded: ("ThrottlingException", 429),
    E.ServiceUnavailable: ("InternalServerException", 500),
    E.StorageFull: ("InternalServerException", 507),
}

TABLES = {"backup": _BACKUP, "ec2": _EC2, "sts": _STS, "backup-gateway": _GATEWAY}


def aws_error(err: E.VaultlinkError, service: str) -> tuple[str, int]:
    """(AWS error code, HTTP status) of ``err`` as ``service`` reports it."""
    table = TABLES.get(service, _BACKUP)
    named = err.details.get("aws_code") if err.details else None
    for cls in type(err).__mro__:
        hit = table.get(cls)
        if hit is not None:
            return (str(named), hit[1]) if named else hit
    return ("InternalFailure", 500)
