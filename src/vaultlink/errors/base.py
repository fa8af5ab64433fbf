"""The root of the error tree (``VaultlinkError``: code, HTTP status, exit code, message), the registry of
codes, and the general kinds: input, access, state, service. See the package's docstring."""

from __future__ import annotations

import errno
from typing import Any, ClassVar

_REGISTRY: dict[str, type[VaultlinkError]] = {}


class VaultlinkError(Exception):
    """Something went wrong; the message says what to do."""

    code: ClassVar[str] = "InternalError"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str | None = None, *, field: str | None = None, **details: Any) -> None:
        doc = " ".join((type(self).__doc__ or "").split())  # docstrings may wrap; messages are one line
        self.message = message or doc
        self.field = field
        self.details = details
        super().__init__(self.message)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code in _REGISTRY and _REGISTRY[cls.code] is not cls:
            raise TypeError(f"duplicate error code {cls.code}")
        _REGISTRY[cls.code] = cls

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.details:
            out["details"] = self.details
        return out


def from_dict(data: dict[str, Any], http_status: int | None = None) -> VaultlinkError:
    """Rebuild an error from an API error body (used by the CLI and the agent)."""
    code = str(data.get("code", "InternalError"))
    cls = _REGISTRY.get(code)
    details = data.get("details") or {}
    if cls is None:
        err = VaultlinkError(str(data.get("message", "")), field=data.get("field"), **details)
        err.code = code  # type: ignore[misc]
        if http_status:
            err.http_status = http_status  # type: ignore[misc]
        return err
    return cls(str(data.get("message", "")) or None, field=data.get("field"), **details)


def all_codes() -> dict[str, type[VaultlinkError]]:
    return dict(_REGISTRY)


# --- input (exit 2) -------------------------------------------------------
class InvalidInput(VaultlinkError):
    """The request is not valid; fix the named field and retry."""

    code = "InvalidInput"
    http_status = 400
    exit_code = 2


class MalformedJSON(InvalidInput):
    """The request body is not valid JSON; send a JSON object."""

    code = "MalformedJSON"
    http_status = 400
    exit_code = 2


class InvalidName(InvalidInput):
    """Names are 1-63 characters: lower-case letters, digits and hyphens, starting with a letter."""

    code = "InvalidName"
    http_status = 400
    exit_code = 2


class InvalidType(InvalidInput):
    """A field has the wrong type; see the field named in the error."""

    code = "InvalidType"
    http_status = 400
    exit_code = 2


class MissingField(InvalidInput):
    """A required field is missing; add it and retry."""

    code = "MissingField"
    http_status = 400
    exit_code = 2


class UnknownRegion(InvalidInput):
    """Unknown region; run `vaultlink region list` to see the choices."""

    code = "UnknownRegion"
    http_status = 400
    exit_code = 2


class InvalidCidr(InvalidInput):
    """The address range is not a valid CIDR."""

    code = "InvalidCidr"
    http_status = 400
    exit_code = 2


class PolicyInvalid(InvalidInput):
    """The policy document is not valid; fix the problems listed."""

    code = "PolicyInvalid"
    http_status = 400
    exit_code = 2


class PolicyTooLarge(InvalidInput):
    """The policy document is over 20,480 characters; shorten it."""

    code = "PolicyTooLarge"
    http_status = 400
    exit_code = 2


class PayloadTooLarge(InvalidInput):
    """The request body is too large; send a smaller one."""

    code = "PayloadTooLarge"
    http_status = 413
    exit_code = 2


# --- authentication / authorization (exit 3) -----------------------------
class Unauthenticated(VaultlinkError):
    """No API key was sent; set VAULTLINK_API_KEY or pass --api-key."""

    code = "Unauthenticated"
    http_status = 401
    exit_code = 3


class InvalidApiKey(VaultlinkError):
    """The API key is unknown or revoked; create a new one with `vaultlink key create`."""

    code = "InvalidApiKey"
    http_status = 401
    exit_code = 3


class TokenExpired(InvalidApiKey):
    """The bearer token has expired; get a new one (`vaultlink key create --arm-token`)."""

    code = "TokenExpired"
    http_status = 401
    exit_code = 3


class AccessDenied(VaultlinkError):
    """Your role does not allow this call; ask an Owner to assign a stronger role."""

    code = "AccessDenied"
    http_status = 403
    exit_code = 3


# --- state (exit 4) --------------------------------------------------------
class NotFound(VaultlinkError):
    """The resource does not exist; list them to see what exists."""

    code = "NotFound"
    http_status = 404
    exit_code = 4


class Conflict(VaultlinkError):
    """The request conflicts with the current state of the resource."""

    code = "Conflict"
    http_status = 409
    exit_code = 4


class AlreadyExists(Conflict):
    """A resource with that name already exists; pick another name."""

    code = "AlreadyExists"
    http_status = 409
    exit_code = 4


class JobStillRunning(Conflict):
    """A job waited for had not ended in time; it goes on: `vaultlink job show JOB` follows it."""

    code = "JobStillRunning"
    http_status = 409
    exit_code = 4


class VaultNotEmpty(Conflict):
    """The vault holds recovery points; delete them (or the protected items) before deleting the vault."""

    code = "VaultNotEmpty"
    http_status = 409
    exit_code = 4


# --- service (exit 5) ------------------------------------------------------
class ServiceUnavailable(VaultlinkError):
    """The vaultlink service cannot be reached; start it with `vaultlink serve` or check VAULTLINK_URL."""

    code = "ServiceUnavailable"
    http_status = 503
    exit_code = 5


class RequestLimitExceeded(VaultlinkError):
    """Too many requests; slow down and retry after a short wait."""

    code = "RequestLimitExceeded"
    http_status = 429
    exit_code = 5


class StoreError(VaultlinkError):
    """The metadata store failed; check the service log."""

    code = "StoreError"
    http_status = 500
    exit_code = 5


class StorageFull(StoreError):
    """The server's storage is full; free space on the disk that holds it (or move it to a larger one), then
    retry: nothing was changed, and a backup run again keeps what it uploaded before."""

    code = "StorageFull"
    http_status = 507
    exit_code = 5


# --- the machine (exit 7, 8, 130) ----------------------------------------
_LOCAL_FIX = {
    errno.ENOSPC: "free space on that disk (or choose another place)",
    errno.EDQUOT: "free space within your disk quota there (or choose another place)",
    errno.EACCES: "choose a place this user may write (or change its permissions)",
    errno.EPERM: "choose a place this user may write (or change its permissions)",
    errno.EROFS: "that file system is read-only: choose another place",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path: a part of it is a file, not a directory",
}


class LocalIOError(VaultlinkError):
    """A file or directory on this machine could not be read or written; fix what the message names, then run
    the command again."""

    code = "LocalIOError"
    http_status = 500  # never an answer of the service: the machine's own files
    exit_code = 7

    @classmethod
    def of(cls, exc: OSError) -> LocalIOError:
        """The error for ``exc``, naming its path(s), the system's reason and what to do about it."""
        where = f"{exc.filename or 'a file of this machine'}" + (f" -> {exc.filename2}" if exc.filename2 else "")
        fix = _LOCAL_FIX.get(exc.errno or 0, "fix that")
        details = {"path": str(exc.filename)} if exc.filename is not None else {}
        return cls(f"{where}: {exc.strerror or exc}; {fix}, then run the command again.", **details,
                   errno=errno.errorcode.get(exc.errno or 0, str(exc.errno)))


class FilesUnreadable(VaultlinkError):
    """A backup finished, but files or directories it could not read are not in its recovery point (the
    command exits with this code after its output); fix their permissions, or leave them out, and back up
    again."""

    code = "FilesUnreadable"
    http_status = 500  # never an answer of the service: the machine's own files
    exit_code = 8

    @classmethod
    def counted(cls, count: int, point: str = "the recovery point") -> FilesUnreadable:
        """What a recovery point lacks when ``count`` paths could not be read, and what to do (the agent's
        warnings name the point; jobs, in the console and the AWS API, say "the recovery point")."""
        return cls(f"{count} file(s) or directories could not be read and are not in {point}; fix their "
                   "permissions on the machine (or leave them out) and back up again.")


class Interrupted(VaultlinkError):
    """Interrupted on this machine (Ctrl-C or SIGTERM) before it finished; run it again: a backup keeps what it
    uploaded, and its job is Aborted."""

    code = "Interrupted"
    http_status = 499  # never an answer of the service: the client gave up (nginx's "client closed request")
    exit_code = 130  # 128 + SIGINT, as shells report an interrupted command


def as_error(exc: VaultlinkError | KeyboardInterrupt | OSError) -> VaultlinkError:
    """What to tell of a command stopped on the machine: a ``VaultlinkError`` as it is, Ctrl-C or SIGTERM as
    ``Interrupted``, a file or directory that could not be written as ``LocalIOError``."""
    if isinstance(exc, VaultlinkError):
        return exc
    return LocalIOError.of(exc) if isinstance(exc, OSError) else Interrupted()
