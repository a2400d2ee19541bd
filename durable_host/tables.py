"""A small async client for Azure Table storage, on aiohttp with Shared Key signing.

durable_host's event loop is CPU-bound on table traffic, and the general-purpose SDK spends
several times more CPU per request than the request itself costs. This client speaks the Table
service's REST protocol directly: JSON entities (typed with `@odata.type` annotations exactly as
azure-data-tables writes them, so rows written by either read the same), entity-group batches as
`multipart/mixed`, continuation tokens, and retries only where repeating a request is harmless.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formatdate
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
from yarl import URL

from durable_host.azurite import ACCOUNT, ACCOUNT_KEY, DEFAULT_PORTS, LOOPBACK

API_VERSION = "2019-02-02"
BATCH_LIMIT = 100
PAGE_LIMIT = 1000
_JSON = "application/json"
_ACCEPT = "application/json;odata=minimalmetadata"
_ATTEMPTS = 4
_FIRST_BACKOFF = 0.2
_INT32 = range(-(2**31), 2**31)
_PARAMETER = re.compile(r"'(?:[^']|'')*'|@([A-Za-z_][A-Za-z0-9_]*)")
_STATUS_LINE = re.compile(rb"^HTTP/1\.1 (\d{3})", re.MULTILINE)
_FAILED_INDEX = re.compile(r"^(\d+):")
_RETRIED_STATUSES = frozenset({408, 500, 502, 503, 504})


class TableError(Exception):
    """The Table service refused a request, or could not be reached."""

    def __init__(self, status: int, code: str, message: str, what: str) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.what = what
        super().__init__(f"{what}: {status} {code}: {message}")


class EntityNotFoundError(TableError):
    """404: the entity or table does not exist."""


class EntityExistsError(TableError):
    """409: the entity (or table) already exists."""


class PreconditionFailedError(TableError):
    """412: the entity changed since it was read (its ETag no longer matches)."""


class BatchError(TableError):
    """An entity-group batch failed as a whole; `index` is the operation the service refused."""

    def __init__(self, status: int, code: str, message: str, what: str, index: int | None) -> None:
        super().__init__(status, code, message, what)
        self.index = index


_ERRORS_BY_STATUS: dict[int, type[TableError]] = {
    404: EntityNotFoundError,
    409: EntityExistsError,
    412: PreconditionFailedError,
}


class Row(dict[str, Any]):
    """An entity as read: its properties, plus the service's ETag and Timestamp."""

    etag: str | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True)
class Account:
    """Where and as whom to talk to the Table service."""

    name: str
    key: bytes
    endpoint: str

    @classmethod
    def from_connection_string(cls, connection_string: str) -> Account:
        """Parse an Azure Storage connection string (also `UseDevelopmentStorage=true`)."""
        settings: dict[str, str] = {}
        for part in connection_string.split(";"):
            if part.strip():
                name, separator, value = part.partition("=")
                if not separator:
                    raise ValueError(f"Connection string part {part!r} is not Name=value")
                settings[name.strip().lower()] = value.strip()
        if settings.get("usedevelopmentstorage", "").lower() == "true":
            return cls(
                ACCOUNT,
                base64.b64decode(ACCOUNT_KEY),
                f"http://{LOOPBACK}:{DEFAULT_PORTS[2]}/{ACCOUNT}",
            )
        missing = [name for name in ("AccountName", "AccountKey") if name.lower() not in settings]
        if missing:
            raise ValueError(
                f"The storage connection string has no {' or '.join(missing)}: this client signs "
                "requests with the account key (SAS and token auth are not supported)"
            )
        name = settings["accountname"]
        try:
            key = base64.b64decode(settings["accountkey"], validate=True)
        except binascii.Error as error:
            raise ValueError(f"AccountKey of storage account {name!r} is not base64") from error
        endpoint = settings.get("tableendpoint")
        if not endpoint:
            protocol = settings.get("defaultendpointsprotocol", "https")
            suffix = settings.get("endpointsuffix", "core.windows.net")
            endpoint = f"{protocol}://{name}.table.{suffix}"
        return cls(name, key, endpoint.rstrip("/"))


# Values: Python <-> the service's JSON


def format_datetime(moment: datetime) -> str:
    """A datetime as the SDK writes Edm.DateTime: UTC, six fractional digits, `Z`."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_datetime(text: str) -> datetime:
    """An Edm.DateTime (0 to 7 fractional digits) as an aware UTC datetime."""
    body = text.removesuffix("Z")
    if "." in body:
        whole, fraction = body.split(".", 1)
        body = f"{whole}.{fraction[:6].ljust(6, '0')}"
    return datetime.fromisoformat(body).replace(tzinfo=UTC)


def _encode_value(value: Any) -> tuple[Any, str | None]:
    """The JSON value of a property and its Edm type annotation, when one is needed."""
    if isinstance(value, str):
        return value, None
    if isinstance(value, bool):
        return value, None
    if isinstance(value, int):
        return (value, None) if value in _INT32 else (str(value), "Edm.Int64")
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN", "Edm.Double"
        if math.isinf(value):
            return ("Infinity" if value > 0 else "-Infinity"), "Edm.Double"
        return value, "Edm.Double"
    if isinstance(value, datetime):
        return format_datetime(value), "Edm.DateTime"
    if isinstance(value, uuid.UUID):
        return str(value), "Edm.Guid"
    if isinstance(value, bytes):
        return base64.b64encode(value).decode(), "Edm.Binary"
    raise TypeError(f"A table property cannot hold a {type(value).__name__}: {value!r}")


def encode_entity(entity: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of an entity; None-valued properties are left out, as the SDK does."""
    body: dict[str, Any] = {}
    for name, value in entity.items():
        if value is None:
            continue
        body[name], edm_type = _encode_value(value)
        if edm_type is not None:
            body[f"{name}@odata.type"] = edm_type
    return body


def _decode_value(value: Any, edm_type: str) -> Any:
    if edm_type == "Edm.DateTime":
        return parse_datetime(value)
    if edm_type == "Edm.Int64":
        return int(value)
    if edm_type == "Edm.Double":
        return float(value)
    if edm_type == "Edm.Guid":
        return uuid.UUID(value)
    if edm_type == "Edm.Binary":
        return base64.b64decode(value)
    return value


def decode_entity(body: Mapping[str, Any], etag: str | None = None) -> Row:
    """A Row from the service's JSON (minimal metadata: annotations only where types need them)."""
    row = Row()
    row.etag = body.get("odata.etag", etag)
    for name, value in body.items():
        if name.startswith("odata.") or name.endswith("@odata.type"):
            continue
        if name == "Timestamp":
            row.timestamp = parse_datetime(value)
            continue
        edm_type = body.get(f"{name}@odata.type")
        row[name] = value if edm_type is None else _decode_value(value, edm_type)
    return row


def _literal(value: Any) -> str:
    """A value as an OData filter literal (string quotes doubled, never interpolated raw)."""
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if value in _INT32 else f"{value}L"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return f"datetime'{format_datetime(value)}'"
    if isinstance(value, uuid.UUID):
        return f"guid'{value}'"
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    raise TypeError(f"A filter parameter cannot be a {type(value).__name__}: {value!r}")


def bind_filter(query_filter: str, parameters: Mapping[str, Any] | None = None) -> str:
    """Replace each `@name` outside string literals with the quoted literal of its value."""
    values = parameters or {}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return match.group(0)
        if name not in values:
            raise ValueError(f"Filter {query_filter!r} uses @{name}, which has no parameter")
        return _literal(values[name])

    return _PARAMETER.sub(substitute, query_filter)


def _key_literal(key: str) -> str:
    return quote(key.replace("'", "''"), safe="")


def _entity_path(table: str, partition_key: str, row_key: str) -> str:
    return f"{table}(PartitionKey='{_key_literal(partition_key)}',RowKey='{_key_literal(row_key)}')"


def encode_continuation(headers: Mapping[str, str]) -> str | None:
    """The opaque token for the next page, or None on the last page."""
    partition = headers.get("x-ms-continuation-NextPartitionKey")
    if partition is None:
        return None
    row = headers.get("x-ms-continuation-NextRowKey", "")
    return base64.urlsafe_b64encode(json.dumps([partition, row]).encode()).decode()


def decode_continuation(token: str) -> tuple[str, str]:
    try:
        partition, row = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError) as error:
        raise ValueError(f"Invalid continuation token {token!r}") from error
    return str(partition), str(row)


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    continuation: str | None


UpdateMode = Literal["replace", "merge"]


@dataclass(frozen=True)
class Operation:
    """One operation of an entity-group batch.

    `insert` fails if the row exists; `upsert` inserts or replaces/merges; `update` needs the row
    to exist (and to still have `etag`, when given); `delete` likewise.
    """

    kind: Literal["insert", "upsert", "update", "delete"]
    entity: Mapping[str, Any]
    mode: UpdateMode = "replace"
    etag: str | None = None

    @property
    def idempotent(self) -> bool:
        return self.kind == "upsert"


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    body: bytes


class TableService:
    """One storage account's tables over one pooled aiohttp session (create it inside a loop)."""

    def __init__(self, account: Account, pool_size: int = 64, timeout: float = 30.0) -> None:
        self.account = account
        self._base = account.endpoint
        self._resource_prefix = "/" + account.name + URL(account.endpoint).raw_path.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._pool_size = pool_size
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._date_second = -1
        self._date = ""

    @classmethod
    def from_connection_string(cls, connection_string: str, pool_size: int = 64) -> TableService:
        return cls(Account.from_connection_string(connection_string), pool_size)

    def table(self, name: str) -> Table:
        return Table(self, name)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> TableService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Idle connections are dropped before Azurite's 5 s keep-alive closes them, so a
            # request never goes out on a socket the server is closing.
            connector = aiohttp.TCPConnector(limit=self._pool_size, keepalive_timeout=4)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, skip_auto_headers=("User-Agent",)
            )
        return self._session

    def _now(self) -> str:
        second = int(time.time())
        if second != self._date_second:
            self._date_second, self._date = second, formatdate(second, usegmt=True)
        return self._date

    def _sign(self, method: str, raw_path: str, content_type: str, date: str) -> str:
        # Shared Key for the Table service: verb, Content-MD5, Content-Type, date, resource.
        message = f"{method}\n\n{content_type}\n{date}\n{self._resource_prefix}/{raw_path}"
        digest = hmac.new(self.account.key, message.encode(), hashlib.sha256).digest()
        return f"SharedKey {self.account.name}:{base64.b64encode(digest).decode()}"

    async def request(
        self,
        method: str,
        raw_path: str,
        what: str,
        *,
        query: str = "",
        body: bytes | None = None,
        content_type: str = "",
        headers: Mapping[str, str] | None = None,
        idempotent: bool,
    ) -> _Response:
        """Send one signed request; retry 5xx and connection errors when repeating is harmless."""
        url = URL(f"{self._base}/{raw_path}{'?' + query if query else ''}", encoded=True)
        delay = _FIRST_BACKOFF
        attempt = 0
        while True:
            attempt += 1
            last = attempt == _ATTEMPTS
            date = self._now()
            sent = {
                "x-ms-date": date,
                "x-ms-version": API_VERSION,
                "DataServiceVersion": "3.0",
                "MaxDataServiceVersion": "3.0;NetFx",
                "Accept": _ACCEPT,
                "Authorization": self._sign(method, raw_path, content_type, date),
                **(headers or {}),
            }
            if content_type:
                sent["Content-Type"] = content_type
            try:
                async with self._http().request(method, url, data=body, headers=sent) as response:
                    payload = await response.read()
                    retry = response.status in _RETRIED_STATUSES and idempotent and not last
                    if not retry:
                        return _Response(response.status, response.headers, payload)
            except aiohttp.ClientConnectorError as error:
                # Nothing was sent: any request can go again.
                if last:
                    raise TableError(0, "ConnectionFailed", str(error), what) from error
            except (aiohttp.ClientError, TimeoutError) as error:
                if last or not idempotent:
                    raise TableError(0, type(error).__name__, str(error), what) from error
            await asyncio.sleep(delay)
            delay *= 2


def _raise_for(response: _Response, what: str) -> None:
    code, message = _error_of(response.headers, response.body)
    raise _ERRORS_BY_STATUS.get(response.status, TableError)(response.status, code, message, what)


def _error_of(headers: Mapping[str, str], body: bytes) -> tuple[str, str]:
    code = headers.get("x-ms-error-code", "")
    message = body.decode(errors="replace").strip()
    try:
        error = json.loads(body)["odata.error"]
        code = str(error.get("code") or code)
        message = str(error["message"]["value"])
    except (ValueError, KeyError, TypeError):
        pass
    return code or "Unknown", message


class Table:
    """One table's entities (keys are plain strings; quoting and escaping happen here)."""

    def __init__(self, service: TableService, name: str) -> None:
        self.service = service
        self.name = name

    async def create_table(self) -> None:
        """Create the table; an existing one is fine."""
        body = json.dumps({"TableName": self.name}).encode()
        response = await self.service.request(
            "POST",
            "Tables",
            f"Creating table {self.name}",
            body=body,
            content_type=_JSON,
            headers={"Prefer": "return-no-content"},
            idempotent=True,
        )
        if response.status == 409 and b"TableAlreadyExists" in response.body:
            return
        if response.status >= 300:
            _raise_for(response, f"Creating table {self.name}")

    def _describe(self, action: str, partition_key: str, row_key: str) -> str:
        return f"{action} ({partition_key!r}, {row_key!r}) in table {self.name}"

    async def get_entity(
        self, partition_key: str, row_key: str, select: Sequence[str] = ()
    ) -> Row | None:
        """The entity, or None when it does not exist."""
        what = self._describe("Reading", partition_key, row_key)
        response = await self.service.request(
            "GET",
            _entity_path(self.name, partition_key, row_key),
            what,
            query=_select(select),
            idempotent=True,
        )
        if response.status == 404:
            return None
        if response.status >= 300:
            _raise_for(response, what)
        return decode_entity(json.loads(response.body), response.headers.get("ETag"))

    async def create_entity(self, entity: Mapping[str, Any]) -> str | None:
        """Add a new entity; EntityExistsError if its keys are taken. Returns the new ETag."""
        what = self._describe("Inserting", entity["PartitionKey"], entity["RowKey"])
        response = await self.service.request(
            "POST",
            self.name,
            what,
            body=json.dumps(encode_entity(entity)).encode(),
            content_type=_JSON,
            headers={"Prefer": "return-no-content"},
            idempotent=False,
        )
        if response.status >= 300:
            _raise_for(response, what)
        return response.headers.get("ETag")

    async def upsert_entity(
        self, entity: Mapping[str, Any], mode: UpdateMode = "replace"
    ) -> str | None:
        """Insert the entity, or replace (or merge into) the one with its keys."""
        return await self._write(entity, mode, None, idempotent=True)

    async def update_entity(
        self, entity: Mapping[str, Any], mode: UpdateMode = "replace", etag: str | None = None
    ) -> str | None:
        """Replace or merge an existing entity (EntityNotFoundError if absent), guarded by `etag`.

        PreconditionFailedError when the stored entity no longer has that ETag.
        """
        return await self._write(entity, mode, etag or "*", idempotent=etag is None)

    async def _write(
        self, entity: Mapping[str, Any], mode: UpdateMode, if_match: str | None, idempotent: bool
    ) -> str | None:
        partition_key, row_key = entity["PartitionKey"], entity["RowKey"]
        what = self._describe("Writing", partition_key, row_key)
        response = await self.service.request(
            "PUT" if mode == "replace" else "MERGE",
            _entity_path(self.name, partition_key, row_key),
            what,
            body=json.dumps(encode_entity(entity)).encode(),
            content_type=_JSON,
            headers={"If-Match": if_match} if if_match else None,
            idempotent=idempotent,
        )
        if response.status >= 300:
            _raise_for(response, what)
        return response.headers.get("ETag")

    async def delete_entity(
        self, partition_key: str, row_key: str, etag: str | None = None, missing_ok: bool = False
    ) -> None:
        """Delete an entity (only if it still has `etag`, when given).

        A missing entity raises EntityNotFoundError unless `missing_ok`.
        """
        what = self._describe("Deleting", partition_key, row_key)
        response = await self.service.request(
            "DELETE",
            _entity_path(self.name, partition_key, row_key),
            what,
            headers={"If-Match": etag or "*"},
            idempotent=missing_ok and etag is None,
        )
        if response.status == 404 and missing_ok:
            return
        if response.status >= 300:
            _raise_for(response, what)

    async def query_page(
        self,
        query_filter: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        select: Sequence[str] = (),
        top: int | None = None,
        continuation: str | None = None,
    ) -> Page:
        """One page of matching entities (at most `top`, and at most 1000) and the next token."""
        parts: list[str] = []
        if query_filter:
            parts.append("$filter=" + quote(bind_filter(query_filter, parameters), safe=""))
        if select:
            parts.append(_select(select))
        if top is not None:
            parts.append(f"$top={top}")
        if continuation is not None:
            partition, row = decode_continuation(continuation)
            parts.append("NextPartitionKey=" + quote(partition, safe=""))
            if row:
                parts.append("NextRowKey=" + quote(row, safe=""))
        what = f"Querying table {self.name}" + (f" for {query_filter!r}" if query_filter else "")
        response = await self.service.request(
            "GET", f"{self.name}()", what, query="&".join(parts), idempotent=True
        )
        if response.status >= 300:
            _raise_for(response, what)
        rows = [decode_entity(item) for item in json.loads(response.body)["value"]]
        return Page(rows, encode_continuation(response.headers))

    async def query_entities(
        self,
        query_filter: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        select: Sequence[str] = (),
    ) -> AsyncIterator[Row]:
        """Every matching entity, following continuation tokens page by page."""
        continuation: str | None = None
        while True:
            page = await self.query_page(
                query_filter, parameters, select, continuation=continuation
            )
            for row in page.rows:
                yield row
            if page.continuation is None:
                return
            continuation = page.continuation

    async def submit_transaction(self, operations: Sequence[Operation]) -> None:
        """Apply operations on one partition atomically: all of them or, on BatchError, none."""
        if not operations:
            return
        if len(operations) > BATCH_LIMIT:
            raise ValueError(
                f"A batch holds at most {BATCH_LIMIT} operations, not {len(operations)}"
            )
        partitions = {operation.entity["PartitionKey"] for operation in operations}
        if len(partitions) != 1:
            raise ValueError(f"A batch must stay in one partition, not {sorted(partitions)}")
        what = f"Batch of {len(operations)} in partition {next(iter(partitions))!r} of {self.name}"
        batch_boundary = f"batch_{uuid.uuid4()}"
        body = self._batch_body(operations, batch_boundary)
        response = await self.service.request(
            "POST",
            "$batch",
            what,
            body=body,
            content_type=f"multipart/mixed; boundary={batch_boundary}",
            idempotent=all(operation.idempotent for operation in operations),
        )
        if response.status >= 300:
            code, message = _error_of(response.headers, response.body)
            raise BatchError(response.status, code, message, what, None)
        _check_batch_response(response.body, what)

    def _batch_body(self, operations: Sequence[Operation], batch_boundary: str) -> bytes:
        changeset = f"changeset_{uuid.uuid4()}"
        parts = [
            f"--{batch_boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        ]
        for index, operation in enumerate(operations):
            entity = operation.entity
            path = _entity_path(self.name, entity["PartitionKey"], entity["RowKey"])
            headers = ["Accept: " + _ACCEPT, "DataServiceVersion: 3.0"]
            payload = ""
            if operation.kind == "insert":
                method, target = "POST", self.name
                headers.append("Prefer: return-no-content")
            elif operation.kind == "delete":
                method, target = "DELETE", path
                headers.append(f"If-Match: {operation.etag or '*'}")
            else:
                method, target = ("PUT" if operation.mode == "replace" else "MERGE"), path
                if operation.kind == "update":
                    headers.append(f"If-Match: {operation.etag or '*'}")
            if operation.kind != "delete":
                headers.append("Content-Type: " + _JSON)
                payload = json.dumps(encode_entity(entity))
            parts.append(
                f"--{changeset}\r\n"
                "Content-Type: application/http\r\n"
                "Content-Transfer-Encoding: binary\r\n"
                f"Content-ID: {index + 1}\r\n\r\n"
                f"{method} {self.service.account.endpoint}/{target} HTTP/1.1\r\n"
                + "".join(f"{header}\r\n" for header in headers)
                + f"\r\n{payload}\r\n"
            )
        parts.append(f"--{changeset}--\r\n\r\n--{batch_boundary}--\r\n")
        return "".join(parts).encode()


def _select(columns: Sequence[str]) -> str:
    return "$select=" + quote(",".join(columns), safe=",") if columns else ""


def _check_batch_response(body: bytes, what: str) -> None:
    """Raise BatchError for the first failed operation in a `$batch` response body."""
    for match in _STATUS_LINE.finditer(body):
        status = int(match.group(1))
        if status < 300:
            continue
        rest = body[match.end() :]
        rest = rest[: rest.find(b"\r\n--")] if b"\r\n--" in rest else rest
        json_start = rest.find(b"{")
        json_end = rest.rfind(b"}")
        part = rest[json_start : json_end + 1] if 0 <= json_start < json_end else b""
        headers_end = rest.find(b"\r\n\r\n")
        code_header = re.search(rb"x-ms-error-code: *(\S+)", rest[:headers_end])
        code, message = _error_of(
            {"x-ms-error-code": code_header.group(1).decode()} if code_header else {}, part
        )
        found = _FAILED_INDEX.match(message)
        index = int(found.group(1)) if found else None
        if found:
            message = message[found.end() :].strip()
        where = f" (operation {index})" if index is not None else ""
        raise BatchError(status, code, message, what + where, index)
