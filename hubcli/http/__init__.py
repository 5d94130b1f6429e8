"""The HTTP layer: every request hubcli sends goes through :class:`HubSession`.

Modules, each importing only those above it: ``urls`` (origins, quoting), ``status`` (the one
status-to-exception mapping), ``transport`` (scoped-auth requests session, watched sockets, the
mid-body transport errors), ``mirrors`` (the failover order), ``sender`` (one request: retries,
waits, timeouts, bodies), ``session`` (:class:`HubSession`: the JSON calls).
"""

from hubcli.http.mirrors import Mirrors, NextMirror
from hubcli.http.sender import (
    ERROR_BODY_MAX,
    IDEMPOTENT_METHODS,
    JSON_MAX_BYTES,
    RETRY_STATUSES,
    USER_AGENT,
    BodyInterrupted,
    Sender,
)
from hubcli.http.session import HubSession, parse_json
from hubcli.http.status import raise_for_hub_status
from hubcli.http.transport import TRANSPORT_ERRORS, as_network_error, response_socket
from hubcli.http.urls import origin, quote_path, quote_segment

__all__ = [
    "ERROR_BODY_MAX",
    "IDEMPOTENT_METHODS",
    "JSON_MAX_BYTES",
    "RETRY_STATUSES",
    "TRANSPORT_ERRORS",
    "USER_AGENT",
    "BodyInterrupted",
    "HubSession",
    "Mirrors",
    "NextMirror",
    "Sender",
    "as_network_error",
    "origin",
    "parse_json",
    "quote_path",
    "quote_segment",
    "raise_for_hub_status",
    "response_socket",
]
