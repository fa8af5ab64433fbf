"""An OAuth2 client-credentials token endpoint, as Microsoft Entra ID has one, so azure-identity's
``ClientSecretCredential(tenant_id=ACCOUNT, client_id=KEY_ID, client_secret=SECRET, authority=URL,
disable_instance_discovery=True, connection_verify=CA)`` gets vaultlink bearer tokens:

- ``GET /{tenant}/v2.0/.well-known/openid-configuration``: where the token endpoint is;
- ``POST /{tenant}/oauth2/v2.0/token`` (``grant_type=client_credentials``): the client is an API key
  (``client_id`` its id, ``client_secret`` its secret: ``vlk_<id>_<secret>``); the answer is a token of
  that key's principal that expires in an hour (``key create --arm-token``'s kind). The tenant must be the
  key's account. Expired tokens of the principal are deleted as new ones are issued (``identity.create_key``).

Errors are OAuth2's (``{"error": "invalid_client", "error_description": …}``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from vaultlink import errors as E
from vaultlink.service import identity
from vaultlink.service.core import Service

TOKEN_SECONDS = 3600
MAX_FORM = 16 * 1024
WELL_KNOWN = re.compile(r"^/(?P<tenant>[0-9A-Za-z._-]{1,64})/v2\.0/\.well-known/openid-configuration$")
TOKEN = re.compile(r"^/(?P<tenant>[0-9A-Za-z._-]{1,64})/oauth2/v2\.0/token$")


def claims(path: str) -> bool:
    return bool(WELL_KNOWN.match(path) or TOKEN.match(path))


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": self.description}


def openid_configuration(base: str, tenant: str) -> dict[str, Any]:
    root = f"{base}/{tenant}"
    return {"issuer": f"{root}/v2.0", "token_endpoint": f"{root}/oauth2/v2.0/token",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "grant_types_supported": ["client_credentials"], "response_types_supported": ["token"],
            "tenant_region_scope": None, "cloud_instance_name": "vaultlink"}


def token(svc: Service, tenant: str, form: bytes, source_ip: str | None) -> dict[str, Any]:
    """A bearer token for the client (an API key) of a ``client_credentials`` request."""
    if len(form) > MAX_FORM:
        raise OAuthError(400, "invalid_request", "the request is too large.")
    fields = dict(parse_qsl(form.decode("latin-1"), keep_blank_values=True))
    if fields.get("grant_type") != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "only grant_type=client_credentials is supported.")
    client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    if not re.fullmatch(r"AK[0-9A-F]{16}", client_id) or not secret:
        raise OAuthError(401, "invalid_client", "client_id is an API key's id (AK…), client_secret its secret.")
    try:
        caller = identity.authenticate(svc, f"{identity.KEY_PREFIX}_{client_id}_{secret}", source_ip)
    except E.VaultlinkError:
        raise OAuthError(401, "invalid_client", "the client id or secret is wrong, or the key was revoked.") \
            from None
    if caller.expires:
        raise OAuthError(401, "invalid_client", "a token cannot obtain tokens; use an API key.")
    if tenant != caller.account_id:
        raise OAuthError(400, "invalid_request", f"the key belongs to tenant {caller.account_id}, not {tenant}.")
    out = identity.create_key(svc, caller, None, "OAuth2 client_credentials", token_seconds=TOKEN_SECONDS)
    return {"token_type": "Bearer", "expires_in": TOKEN_SECONDS, "ext_expires_in": TOKEN_SECONDS,
            "access_token": out["access_token"]}

