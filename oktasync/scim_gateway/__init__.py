"""The SCIM target (Chronosphere in production, scim2-server in tests): see ``scim_gateway.client``.

httpx for the wire, scim2-models for validation; why not scim2-client is explained in ``client``'s
docstring and docs/scim.md.
"""

from oktasync.scim_gateway.client import (
    OKTA_USER_AGENT,
    ScimGateway,
    ScimHttpError,
    ScimResponse,
    ScimTransportError,
    TargetUser,
    UserPage,
    eq_filter,
    filter_query,
    parse_list_response,
    parse_user,
    quote_value,
    raw_int_fields,
)

__all__ = [
    "OKTA_USER_AGENT",
    "ScimGateway",
    "ScimHttpError",
    "ScimResponse",
    "ScimTransportError",
    "TargetUser",
    "UserPage",
    "eq_filter",
    "filter_query",
    "parse_list_response",
    "parse_user",
    "quote_value",
    "raw_int_fields",
]
