"""A realistic corpus of CloudWatch Logs payloads for measuring what indices cost on disk.

Five kinds of log groups, in the shares a cluster of EKS services behind API Gateway,
with Lambda functions and VPC flow logs, sends: Fluent Bit records of JSON and plain
application lines, Lambda START/END/REPORT and JSON lines, API Gateway JSON access
logs, VPC flow log lines, and plain application lines with stack traces. Values have
the spread of real ones (unique request and trace ids, thousands of users and
addresses, hundreds of pods); `distinct_values` counts them so that no design wins
on uniform data.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

DAY_MS = 86_400_000
START_MS = 1_795_305_600_000  # 2026-11-22T00:00:00Z: every event falls on that day
NAMESPACES = [
    "payments", "checkout", "catalog", "search", "auth", "orders",
    "shipping", "inventory", "notifications", "kube-system", "ingress", "batch",
]  # fmt: skip
NODES = [f"ip-10-0-{rack}-{host}.ec2.internal" for rack in range(3) for host in range(10, 20)]
PATHS = ["/api/orders", "/api/orders/{id}", "/api/cart", "/api/users/{id}", "/api/search", "/health", "/api/pay"]
LEVELS = ["INFO"] * 14 + ["DEBUG"] * 3 + ["WARN"] * 2 + ["ERROR"]
MESSAGES = [
    "order {n} created for user {u}",
    "payment authorised in {ms} ms",
    "cache miss for key product:{n}",
    "retrying call to inventory (attempt {a})",
    "request timeout after {ms} ms calling {svc}",
    "user {u} signed in",
    "published event OrderPlaced {n}",
    "slow query took {ms} ms: SELECT * FROM orders WHERE id = {n}",
]
PODS_PER_NAMESPACE = 20  # replicas of a deployment over a day of rollouts
_POD_RNG = random.Random(7)
PODS = {
    namespace: [
        f"{namespace}-api-{_POD_RNG.getrandbits(36):09x}-{_POD_RNG.getrandbits(20):05x}"
        for _ in range(PODS_PER_NAMESPACE)
    ]
    for namespace in NAMESPACES
}
AGENTS = ["Mozilla/5.0 (Windows NT 10.0)", "okhttp/4.12.0", "curl/8.4.0", "Go-http-client/2.0"]
EXCEPTIONS = ["IllegalStateException", "NullPointerException", "SocketTimeoutException", "SQLException"]
# Kind, share of events, log groups of that kind.
KINDS = (("eks", 0.35, 12), ("lambda", 0.20, 20), ("apigateway", 0.15, 3), ("vpc", 0.20, 4), ("app", 0.10, 6))


class Corpus:
    """`payloads()` yields payloads of `batch` events; `distinct_values` counts each field's values as made."""

    def __init__(self, events: int, seed: int = 34, batch: int = 1000) -> None:
        self.events, self.batch = events, batch
        self._rng = random.Random(seed)
        self.distinct_values: dict[str, set[str]] = defaultdict(set)

    def payloads(self) -> Iterator[dict[str, Any]]:
        rng, made = self._rng, 0
        while made < self.events:
            kind = rng.choices([k[0] for k in KINDS], weights=[k[1] for k in KINDS])[0]
            groups = next(k[2] for k in KINDS if k[0] == kind)
            count = min(self.batch, self.events - made)
            yield self._payload(kind, rng.randrange(groups), count)
            made += count

    def distinct_counts(self) -> dict[str, int]:
        return {name: len(values) for name, values in sorted(self.distinct_values.items())}

    def _seen(self, **values: Any) -> None:
        for name, value in values.items():
            self.distinct_values[name].add(str(value))

    def _payload(self, kind: str, group_number: int, count: int) -> dict[str, Any]:
        rng = self._rng
        name = NAMESPACES[group_number % len(NAMESPACES)]
        group, stream = {
            "eks": (f"/aws/containerinsights/prod/application/{name}/{name}-api", f"fluent-bit-{rng.randrange(30)}"),
            "lambda": (f"/aws/lambda/prod-fn-{group_number}", f"2026/11/22/[$LATEST]{rng.getrandbits(64):016x}"),
            "apigateway": (f"/aws/apigateway/prod-http-api-{group_number}", "access"),
            "vpc": (f"/aws/vpc/flow-logs-{group_number}", f"eni-{rng.getrandbits(32):08x}-all"),
            "app": (f"/prod/app/legacy-service-{group_number}", f"i-{rng.getrandbits(40):010x}"),
        }[kind]
        make = {
            "eks": self._fluent_bit,
            "lambda": self._lambda,
            "apigateway": self._access_log,
            "vpc": self._flow_log,
            "app": self._app_line,
        }[kind]
        self._seen(log_group=group, log_stream=stream)
        first = START_MS + rng.randrange(DAY_MS - 600_000)
        events = []
        for i in range(count):
            at = first + i * rng.randint(0, 400)
            events.append({"id": f"{at:020d}{rng.getrandbits(64):020d}{i:016d}", "timestamp": at, "message": make(at)})
        return {
            "messageType": "DATA_MESSAGE",
            "owner": "123456789012",
            "logGroup": group,
            "logStream": stream,
            "subscriptionFilters": ["opensearch-forwarder"],
            "logEvents": events,
        }

    def _application_message(self) -> tuple[str, dict[str, Any]]:
        rng = self._rng
        user, n = f"u-{rng.randrange(10_000):05d}", rng.randrange(1_000_000)
        text = rng.choice(MESSAGES).format(
            n=n, u=user, ms=rng.randint(1, 5000), a=rng.randint(1, 5), svc=rng.choice(NAMESPACES)
        )
        fields = {"level": rng.choice(LEVELS), "msg": text, "user_id": user, "trace_id": f"{rng.getrandbits(128):032x}"}
        self._seen(level=fields["level"], user_id=user, trace_id=fields["trace_id"])
        return text, fields

    def _fluent_bit(self, at: int) -> str:
        rng = self._rng
        namespace = rng.choice(NAMESPACES)
        pod = PODS[namespace][rng.randrange(PODS_PER_NAMESPACE)]
        text, fields = self._application_message()
        if rng.random() < 0.7:
            log = json.dumps({**fields, "status": rng.choice([200, 200, 200, 201, 400, 404, 500])})
        else:
            log = f"{fields['level']} [{rng.choice(['main', 'http-nio-8080-exec-3', 'worker-1'])}] {text}"
        record = {
            "log": log,
            "stream": "stdout" if rng.random() < 0.9 else "stderr",
            "time": f"2026-11-22T{_clock(at)}.{at % 1000:03d}Z",
            "kubernetes": {
                "pod_name": pod,
                "namespace_name": namespace,
                "container_name": f"{namespace}-api",
                "host": rng.choice(NODES),
                "labels": {"app": f"{namespace}-api", "pod-template-hash": pod.rsplit("-", 2)[1]},
                "container_image": f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{namespace}:1.{rng.randrange(40)}.0",
            },
        }
        self._seen(pod_name=pod, namespace_name=namespace, host=record["kubernetes"]["host"])
        return json.dumps(record)

    def _lambda(self, at: int) -> str:
        rng = self._rng
        bits = f"{rng.getrandbits(128):032x}"
        request = f"{bits[:8]}-{bits[8:12]}-4{bits[13:16]}-a{bits[17:20]}-{bits[20:]}"
        self._seen(request_id=request)
        choice = rng.random()
        if choice < 0.15:
            return f"START RequestId: {request} Version: $LATEST\n"
        if choice < 0.30:
            return f"END RequestId: {request}\n"
        if choice < 0.45:
            duration = rng.uniform(1, 3000)
            return (
                f"REPORT RequestId: {request}\tDuration: {duration:.2f} ms\tBilled Duration: {int(duration) + 1} ms\t"
                f"Memory Size: 512 MB\tMax Memory Used: {rng.randint(60, 300)} MB\t\n"
            )
        _, fields = self._application_message()
        stamp = f"2026-11-22T{_clock(at)}.{at % 1000:03d}Z"
        return f"{stamp}\t{request}\t{fields['level']}\t{json.dumps(fields)}\n"

    def _access_log(self, at: int) -> str:
        rng = self._rng
        ip = f"{rng.choice([52, 34, 3, 18])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        status = rng.choice([200] * 12 + [201, 204, 301, 400, 403, 404, 404, 429, 500, 502, 503])
        route = rng.choice(PATHS)
        self._seen(ip=ip, status=status)
        return json.dumps(
            {
                "requestId": f"{rng.getrandbits(64):016x}=",
                "ip": ip,
                "requestTime": f"22/Nov/2026:{_clock(at)} +0000",
                "httpMethod": rng.choice(["GET"] * 4 + ["POST", "PUT", "DELETE"]),
                "routeKey": f"ANY {route}",
                "path": route.replace("{id}", str(rng.randrange(100_000))),
                "status": status,
                "protocol": "HTTP/1.1",
                "responseLength": rng.randint(0, 50_000),
                "integrationLatency": rng.randint(2, 2500),
                "userAgent": rng.choice(
                    ["Mozilla/5.0 (Windows NT 10.0)", "okhttp/4.12.0", "curl/8.4.0", "Go-http-client/2.0"]
                ),
            }
        )

    def _flow_log(self, at: int) -> str:
        rng = self._rng
        source = f"10.0.{rng.randrange(16)}.{rng.randrange(1, 255)}"
        target = f"{rng.choice([10, 52, 172])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        self._seen(flow_source=source, flow_target=target)
        start = at // 1000 - 60
        verdict = "ACCEPT" if rng.random() < 0.93 else "REJECT"
        return (
            f"2 123456789012 eni-{rng.getrandbits(32):08x} {source} {target} {rng.randint(1024, 65535)} "
            f"{rng.choice([443, 80, 5432, 6379, 53])} {rng.choice([6, 6, 6, 17])} {rng.randint(1, 500)} "
            f"{rng.randint(40, 900_000)} {start} {start + 60} {verdict} OK"
        )

    def _app_line(self, at: int) -> str:
        rng = self._rng
        text, fields = self._application_message()
        stamp = f"2026-11-22 {_clock(at)},{at % 1000:03d}"
        line = f"{stamp} {fields['level']} [main] com.example.legacy.OrderService - {text}"
        if fields["level"] == "ERROR" or rng.random() < 0.05:
            frames = "".join(
                f"\n\tat com.example.legacy.{rng.choice(['OrderService', 'Repository', 'Client'])}."
                f"{rng.choice(['save', 'load', 'call', 'run'])}(Source.java:{rng.randint(10, 900)})"
                for _ in range(rng.randint(5, 25))
            )
            line += f"\n{'java.lang.' + rng.choice(EXCEPTIONS)}: {text}{frames}"
        return line


def _clock(at: int) -> str:
    """HH:MM:SS of an epoch-milliseconds time, UTC."""
    return f"{at // 3_600_000 % 24:02d}:{at // 60_000 % 60:02d}:{at // 1000 % 60:02d}"
