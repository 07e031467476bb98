"""Deterministic CloudWatch Logs payloads of mixed, realistic shapes (tests, parity, bench)."""

from __future__ import annotations

import base64
import gzip
import json
import random
from typing import Any

DAY_MS = 86_400_000
# 2026-11-22T00:00:00Z: events straddle UTC midnights around it.
BASE_MS = 1_795_305_600_000 + DAY_MS

NAMESPACES = ["payments", "Checkout", "web", "batch-jobs", "kube-system"]
APIS = ["payments-api", "Orders-API", "nginx-ingress", "worker_v2", "coredns"]
WORDS = ["order", "charge", "user", "cache", "retry", "timeout", "ok", "Grüße", "東京", "café", "🚀"]

NUMERIC_LOOKING = [
    " 12 ",
    "1.5e3",
    "0x1A",
    "0b101",
    "0o17",
    "-0",
    "+5",
    ".5",
    "5.",
    "1e21",
    "007",
    "\u00a012\u00a0",
    "\t3\n",
    "12345678901234567890",
    "1.0",
    "-2.50",
    "Infinity",
    "-Infinity",
    "NaN",
    "",
    "  ",
    "12abc",
    "1e400",
    "0x",
    "-0x1A",
    "1_000",
    "١٢",
]
JSONISH = [
    '{"trace":"abc","n":1}',
    'prefix {"a":{"b":[1,2,{"c":null}]}}',
    "{broken",
    "{}",
    "{ }",
    '{"big":12345678901234567890,"f":1.0,"e":1e21,"neg":-0.0}',
    '{"dup":1,"dup":2}',
    '{"s":"\\ud800 lone"}',
    '{"inf":1e400}',
    'x { "spaced" : true } ',
    '{"a":1} trailing',
]


def log_group(rng: random.Random) -> str:
    cluster = rng.choice(["prod-cluster", "Staging", "eu-west-1.k8s"])
    kind = rng.choice(["application", "dataplane", "host"])
    return f"/aws/containerinsights/{cluster}/{kind}/{rng.choice(NAMESPACES)}/{rng.choice(APIS)}"


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _fluent_record(rng: random.Random, at: int) -> str:
    inner: Any = _text(rng, rng.randint(2, 8))
    if rng.random() < 0.3:
        inner = json.dumps(
            {"level": rng.choice(["info", "error"]), "msg": _text(rng, 3), "status": rng.choice([200, 404, "OK"])}
        )
    record = {
        "log": inner,
        "stream": rng.choice(["stdout", "stderr"]),
        "time": f"2026-11-22T10:00:{at % 60:02d}.{at % 1000:03d}Z",
        "kubernetes": {
            "pod_name": f"api-{rng.randint(1, 9)}",
            "namespace_name": rng.choice(NAMESPACES),
            "labels": {"app": rng.choice(APIS), "tier": rng.choice(["web", "db"])},
            "host": "ip-10-0-1-23.ec2.internal",
        },
    }
    if rng.random() < 0.2:
        record["@timestamp"] = "overwritten"  # the forwarder's @-fields win
        record["@message"] = {"nested": True}
    return json.dumps(record, ensure_ascii=rng.random() < 0.5)


ALL_SHAPES = tuple(range(9))  # every shape, the edge cases included: the parity mix
# Shapes whose fields keep one type across events: these index without mapping conflicts.
CLEAN_SHAPES = (0, 2, 3, 4, 6)
# What production log groups carry, without the edge-case values (lone surrogates,
# 1e400, 0x1A as a status...) that the parity mix has in every tenth event.
REALISTIC_SHAPES = (0, 2, 3, 4, 6, 7, 9)


def _message(rng: random.Random, at: int, shapes: tuple[int, ...]) -> tuple[str, dict[str, str] | None]:
    shape = rng.choice(shapes)
    if shape == 0:
        return _fluent_record(rng, at), None
    if shape == 1:
        return f"2026-11-22T10:00:00Z INFO {_text(rng, 4)} {rng.choice(JSONISH)}", None
    if shape == 2:
        return _text(rng, rng.randint(1, 12)), None
    if shape == 3:
        rid = f"{rng.getrandbits(32):08x}-1b2a-4c3d-9e8f-7a6b5c4d3e2f"
        return rng.choice(
            [
                f"START RequestId: {rid} Version: $LATEST\n",
                f"END RequestId: {rid}\n",
                f"REPORT RequestId: {rid}\tDuration: {rng.uniform(1, 900):.2f} ms\tBilled Duration: 10 ms\t"
                "Memory Size: 256 MB\tMax Memory Used: 81 MB\t\n",
                f'2026-11-22T16:53:20.120Z\t{rid}\tINFO\t{{"level":"INFO","n":{rng.randint(0, 99)}}}\n',
            ]
        ), None
    if shape == 4:
        status = rng.choice(["200", "404", "503"])
        ip = f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 250)}"
        request = f"GET /api/{rng.choice(WORDS)} HTTP/1.1"
        return f'{ip} - - [22/Nov/2026:10:00:00 +0000] "{request}" {status} {rng.randint(0, 9999)}', None
    if shape == 5:
        fields = {
            "ip": f"10.0.0.{rng.randint(1, 250)}",
            "status": rng.choice(NUMERIC_LOOKING),
            "bytes": rng.choice(NUMERIC_LOOKING),
            "ctx": rng.choice([*JSONISH, "-", ""]),
            "msg": _text(rng, 3),
        }
        if rng.random() < 0.3:
            fields["7"] = rng.choice(NUMERIC_LOOKING)  # array-index keys come first in JavaScript
            fields["$ctx"] = "set twice"
        return f"{fields['ip']} {fields['status']} {fields['bytes']}", fields
    if shape == 6:
        frames = "".join(f"\n\tat com.example.C{i}.m(C{i}.java:{i * 7})" for i in range(rng.randint(2, 12)))
        return f"java.lang.IllegalStateException: {_text(rng, 3)}{frames}", None
    if shape == 9:  # a space-delimited filter pattern on an access log: [ip, user, ..., status, bytes]
        ip = f"10.0.{rng.randint(0, 9)}.{rng.randint(1, 250)}"
        status, size = rng.choice(["200", "200", "304", "404", "500"]), str(rng.randint(0, 99999))
        path = f"/api/{rng.choice(WORDS)}"
        fields = {"ip": ip, "user": "-", "method": "GET", "path": path, "status": status, "bytes": size}
        return f"{ip} - GET {path} {status} {size}", fields
    if shape == 7:
        return f'{_text(rng, 2)} {{"k": "{rng.choice(WORDS)}", "v": [{rng.random()}, {rng.randint(-5, 5)}]}}', None
    return rng.choice(JSONISH), None


def payload(
    rng: random.Random, events: int, group: str | None = None, shapes: tuple[int, ...] = ALL_SHAPES
) -> dict[str, Any]:
    start = BASE_MS + rng.randint(-3, 3) * DAY_MS - rng.randint(0, 120_000)
    log_events = []
    for i in range(events):
        at = start + i * rng.randint(0, 400)
        message, fields = _message(rng, at, shapes)
        event: dict[str, Any] = {
            "id": f"{at:020d}{rng.getrandbits(64):020d}{i:016d}",
            "timestamp": at,
            "message": message,
        }
        if fields is not None:
            event["extractedFields"] = fields
        log_events.append(event)
    return {
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": group or log_group(rng),
        "logStream": f"stream-{rng.randint(1, 99)}",
        "subscriptionFilters": ["opensearch-forwarder"],
        "logEvents": log_events,
    }


def payloads(seed: int, count: int, events: int, shapes: tuple[int, ...] = ALL_SHAPES) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [payload(rng, events, shapes=shapes) for _ in range(count)]


def clean_payload(seed: int, events: int) -> dict[str, Any]:
    """One payload that OpenSearch indexes without a mapping conflict."""
    return payloads(seed, 1, events, CLEAN_SHAPES)[0]


def encode(raw: bytes) -> dict[str, dict[str, str]]:
    """The Lambda event CloudWatch Logs sends for an (uncompressed) payload."""
    return {"awslogs": {"data": base64.b64encode(gzip.compress(raw, mtime=0)).decode()}}


def event_for(payload_doc: dict[str, Any]) -> dict[str, dict[str, str]]:
    text = json.dumps(payload_doc, ensure_ascii=False)
    try:
        return encode(text.encode())
    except UnicodeEncodeError:  # a lone surrogate travels as its \u escape, as a JSON writer sends it
        return encode(json.dumps(payload_doc).encode())
