"""Where a process's spans go, decided by durable_saga.tracing from the app settings: each case
runs in a fresh Python process (a process sets its OpenTelemetry provider once), which emits one
span with a derived id, flushes, and says what it found."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from durable_saga.tracing import chosen_exporters
from tests.conftest import PROJECT_ROOT
from tests.tracing import REQUEST

PROBE = f"""
import sys
from datetime import UTC, datetime
from opentelemetry import trace
from durable_saga import tracing
from durable_saga.documents import TraceContext
from durable_saga.traces import SpanRecord

provider_before = type(trace.get_tracer_provider()).__name__
if "--own-provider" in sys.argv:
    from opentelemetry.sdk.trace import TracerProvider
    trace.set_tracer_provider(TracerProvider())
found = tracing.tracer()
now = datetime.now(UTC)
tracing.emit(SpanRecord(
    name="probe span",
    trace=TraceContext(traceparent="{REQUEST.traceparent}"),
    span_id="00000000000000aa",
    parent_id="{REQUEST.span_id}",
    start=now,
    end=now,
    attributes={{"saga.id": "probe-1"}},
))
provider = trace.get_tracer_provider()
flush = getattr(provider, "force_flush", None)
if flush is not None:
    flush(10000)
print("TRACING", found is not None, provider_before, type(provider).__name__, flush=True)
"""

# Variables of the shell that would decide for the probe.
DECIDING = ("OTEL_", "APPLICATIONINSIGHTS_")


def probe(settings: Mapping[str, str], *args: str) -> tuple[bool, str, str]:
    """Run the probe with `settings`: (whether the toolkit traces, the provider type before and
    after, stdout)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(DECIDING)}
    environ.update(settings)
    environ["PYTHONPATH"] = str(PROJECT_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("TRACING"))
    _, traced, _, provider = line.split()
    return traced == "True", provider, done.stdout


def test_with_nothing_set_nothing_is_configured() -> None:
    traced, provider, _ = probe({})
    assert (traced, provider) == (False, "ProxyTracerProvider")


def test_the_console_exporter_prints_each_span() -> None:
    traced, provider, output = probe({"OTEL_TRACES_EXPORTER": "console"})
    assert (traced, provider) == (True, "TracerProvider")
    printed = json.loads(output[output.index("{") : output.rindex("}") + 1])
    assert printed["name"] == "probe span"
    assert printed["context"]["span_id"] == "0x00000000000000aa"
    assert printed["context"]["trace_id"] == f"0x{REQUEST.trace_id}"
    assert printed["parent_id"] == f"0x{REQUEST.span_id}"


def test_none_turns_an_otlp_endpoint_off() -> None:
    settings = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_EXPORTER": "none"}
    traced, provider, _ = probe(settings)
    assert (traced, provider) == (False, "ProxyTracerProvider")


def test_a_provider_the_app_set_is_the_one_traced_into() -> None:
    traced, provider, _ = probe({"OTEL_TRACES_EXPORTER": "console"}, "--own-provider")
    assert (traced, provider) == (True, "TracerProvider")


@pytest.mark.parametrize(
    ("settings", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, []),
    ],
)
def test_the_exporters_follow_the_standard_variables(
    settings: dict[str, str], exporters: list[str]
) -> None:
    assert chosen_exporters(settings) == exporters


class Ingestion:
    """Application Insights' ingestion endpoint, on loopback: the telemetry items it receives."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        received = self.items

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding", "").lower() == "gzip":
                    body = gzip.decompress(body)
                if self.path.endswith("/track"):
                    received.extend(json.loads(body))
                answer = json.dumps({"itemsReceived": 1, "itemsAccepted": 1, "errors": []})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(answer.encode())

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"


@pytest.fixture
def ingestion() -> Iterator[Ingestion]:
    endpoint = Ingestion()
    thread = threading.Thread(target=endpoint.server.serve_forever, daemon=True)
    thread.start()
    yield endpoint
    endpoint.server.shutdown()
    endpoint.server.server_close()
    thread.join()


def application_insights(ingestion: Ingestion, tmp_path: Any) -> dict[str, str]:
    connection = (
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        f"IngestionEndpoint={ingestion.url};LiveEndpoint={ingestion.url}"
    )
    return {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": connection,
        # Nothing leaves this machine: no statsbeat to Microsoft's endpoints.
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "TMPDIR": str(tmp_path),
    }


def test_an_application_insights_connection_string_sends_spans_there(
    ingestion: Ingestion, tmp_path: Any
) -> None:
    traced, provider, _ = probe(application_insights(ingestion, tmp_path))

    assert (traced, provider) == (True, "TracerProvider")
    # Kept though it is the first span of a process whose rate-limited default sampler would
    # have dropped it: every saga is kept, whole, unless a sampler is chosen.
    [item] = [
        item for item in ingestion.items if item["data"]["baseData"].get("name") == "probe span"
    ]
    assert item["data"]["baseData"]["id"] == "00000000000000aa"
    assert item["tags"]["ai.operation.id"] == REQUEST.trace_id
    assert item["tags"]["ai.operation.parentId"] == REQUEST.span_id


def test_a_sampler_the_settings_choose_wins(ingestion: Ingestion, tmp_path: Any) -> None:
    settings = application_insights(ingestion, tmp_path) | {
        "OTEL_TRACES_SAMPLER": "microsoft.fixed_percentage",
        "OTEL_TRACES_SAMPLER_ARG": "0",
    }
    traced, _, _ = probe(settings)

    assert traced
    assert not [i for i in ingestion.items if i["data"]["baseData"].get("name") == "probe span"]
