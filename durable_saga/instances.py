"""One page of the Durable instance query, asked of the host's management API directly.

The Python Durable client's `get_status_by` reads a single answer and drops the continuation
token, so it cannot page. The durableClient binding hands every function the host's `rpcBaseUrl`,
where `GET instances/?top=N&...` answers one page and the `x-ms-continuation-token` response
header leads to the next; the same request header asks for it. Azure, Core Tools and durable_host
all serve this route.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

CONTINUATION_HEADER = "x-ms-continuation-token"
# Hosts before DurableTask's fix (Azure/durabletask#372) ended the list with base64 of "null".
_NO_MORE = {"", "null", "bnVsbA=="}
TIMEOUT_SECONDS = 30.0


class HostUnavailable(Exception):
    """The Durable host could not be reached or did not answer the query."""


class TokenRefused(Exception):
    """The host refused the continuation token it was sent."""


@dataclass(frozen=True)
class InstancePage:
    instances: list[dict[str, Any]]
    continuation: str | None


def rpc_base_url(binding: str) -> str:
    """The `rpcBaseUrl` of a durableClient binding value (JSON text), ending with a slash."""
    try:
        url = json.loads(binding).get("rpcBaseUrl")
    except (ValueError, AttributeError):
        url = None
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise HostUnavailable("the durableClient binding carries no rpcBaseUrl")
    return url if url.endswith("/") else url + "/"


async def query_instances(
    base_url: str, parameters: dict[str, str], continuation: str | None
) -> InstancePage:
    """`GET {rpcBaseUrl}instances/?...`: one page of instances and the token for the next."""
    url = f"{base_url}instances/?{urlencode(parameters)}"
    headers = {CONTINUATION_HEADER: continuation} if continuation else {}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, headers=headers) as response,
        ):
            body = await response.text()
            status, token = response.status, response.headers.get(CONTINUATION_HEADER)
    except (TimeoutError, aiohttp.ClientError) as error:
        raise HostUnavailable(
            f"the Durable host did not answer the instance query: {error or type(error).__name__}"
        ) from error
    if status == 400 and continuation:
        raise TokenRefused(body[:200])
    if status != 200:
        raise HostUnavailable(f"the Durable host answered the instance query with {status}")
    try:
        instances = json.loads(body)
    except ValueError:
        raise HostUnavailable("the Durable host answered the instance query with no JSON") from None
    if not isinstance(instances, list):
        raise HostUnavailable("the Durable host answered the instance query with no list")
    return InstancePage(
        [item for item in instances if isinstance(item, dict)],
        None if token is None or token.strip() in _NO_MORE else token,
    )
