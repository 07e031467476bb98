"""A local OpenSearch 2.x stand-in on loopback, for the tests and `make demo`.

It checks every request's SigV4 signature (harness/sigv4_check.py) with known test
credentials, reads gzip bodies, and answers `_bulk` item by item as OpenSearch
does: `_type` and malformed NDJSON refused, mappings made and enforced as a real
node does (harness/standin_mapping.py: dynamic mapping, index templates, the
1,000-field limit), 413 past `max_content_length`, and Serverless refusing `_id`.
tests/test_standin_vs_real.py holds these answers to a real OpenSearch node.
Faults can be injected: whole-request answers (429, 503, ...), slow answers and
dropped connections (`request_fault`, or `queue_answer`), and per-item errors
(`item_fault`).
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import gzip
import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from harness import standin_mapping
from harness.sigv4_check import TestCredentials, check

TEN_MIB = 10 * 1024 * 1024
_BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')
_ACTIONS = ("index", "create", "update", "delete")
_ACTION_PARAMS = {
    "_index",
    "_id",
    "routing",
    "version",
    "version_type",
    "if_seq_no",
    "if_primary_term",
    "pipeline",
    "require_alias",
    "retry_on_conflict",
}

# per-item fault: (index, id, source line) -> None, or (status, error type, reason)
ItemFault = Callable[[str, str | None, bytes], tuple[int, str, str] | None]


@dataclass(frozen=True)
class Fault:
    """What goes wrong with one request."""

    status: int | None = None  # answer this (an OpenSearch-shaped error) instead of serving
    delay: float = 0.0  # seconds to wait before answering (after serving)
    drop: bool = False  # close the connection without answering
    serve_first: bool = False  # with drop: index the request, then drop (the client cannot know)
    raw: bytes | None = None  # answer these bytes instead (with status: without serving)
    mangle: Callable[[Any], Any] | None = None  # serve, then answer what this makes of the answer


RequestFault = Callable[[str], Fault | None]  # path (without its query) -> fault, or None to serve normally


@dataclass
class Seen:
    """One request as the stand-in received it."""

    method: str
    path: str  # with its query, e.g. /_bulk?filter_path=...
    status: int
    wire_bytes: int
    body_bytes: int  # after gzip decoding
    content_encoding: str | None
    client_port: int
    headers: dict[str, str]

    @property
    def route(self) -> str:
        """The path without its query."""
        return urlsplit(self.path).path


@dataclass
class StandIn:
    service: str = "es"
    region: str = "us-east-1"
    credentials: TestCredentials = field(default_factory=TestCredentials)
    max_content_length: int = TEN_MIB
    indices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    mappings: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    queued_answers: deque[tuple[int, dict[str, Any]]] = field(default_factory=deque)
    item_fault: ItemFault | None = None
    request_fault: RequestFault | None = None
    basic_auth: tuple[str, str] | None = None  # an internal user (fine-grained access control) instead of SigV4
    ism_policies: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {policy, seq_no, version}
    index_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    policy_changes: list[tuple[str, str]] = field(default_factory=list)  # (index pattern, policy id)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> StandIn:
        standin = self

        class Handler(_Handler):
            owner = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def env(self) -> dict[str, str]:
        """The environment that points the forwarder at this stand-in, with its test credentials."""
        return {
            "OPENSEARCH_ENDPOINT": self.url,
            "OPENSEARCH_SERVICE": self.service,
            "AWS_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "AWS_SESSION_TOKEN": self.credentials.session_token or "",
        }

    # -- what tests look at ---------------------------------------------------
    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        return {doc_id: doc["_source"] for doc_id, doc in self.indices.get(index, {}).items()}

    def count(self) -> int:
        return sum(len(docs) for docs in self.indices.values())

    def queue_answer(self, status: int, body: dict[str, Any] | None = None, times: int = 1) -> None:
        """The next `times` requests get this whole-request answer instead of being served."""
        answer = body if body is not None else _error(status, _STATUS_ERRORS.get(status, "error"), "injected")
        for _ in range(times):
            self.queued_answers.append((status, answer))

    # -- serving --------------------------------------------------------------
    def handle(self, method: str, target: str, headers: dict[str, str], wire: bytes) -> tuple[int, Any]:
        if self.basic_auth:
            expected = "Basic " + base64.b64encode(":".join(self.basic_auth).encode()).decode()
            if headers.get("authorization") != expected:
                return 401, _error(401, "security_exception", "Unauthorized")
        else:
            auth_error = check(method, target, headers, wire, self.credentials, self.service, self.region)
            if auth_error:
                return 403, {"message": auth_error}
        if len(wire) > self.max_content_length:
            return 413, {"Message": f"Request size exceeded {self.max_content_length} bytes"}
        if self.queued_answers:
            return self.queued_answers.popleft()
        body = wire
        if headers.get("content-encoding", "").lower() == "gzip":
            try:
                body = gzip.decompress(wire)
            except OSError as err:
                return 400, _error(400, "parse_exception", f"Content-Encoding gzip: {err}")
        url = urlsplit(target)
        path = url.path
        parts = [unquote(p) for p in path.split("/") if p]
        if method == "POST" and parts and parts[-1] == "_bulk" and len(parts) <= 2:
            status, answer = self._bulk(body, parts[0] if len(parts) == 2 else None)
            expression = parse_qs(url.query).get("filter_path")
            if status == 200 and expression:  # as a real node: a whole-request error is not filtered
                answer = filter_path(answer, expression[0])
            return status, answer
        if method in ("GET", "POST") and len(parts) == 2 and parts[1] == "_search":
            status, answer = self._search_ids(parts[0], body)
            expression = parse_qs(url.query).get("filter_path")
            return status, filter_path(answer, expression[0]) if status == 200 and expression else answer
        if parts[:2] == ["_plugins", "_ism"] or parts[:1] == ["_index_template"]:
            return self._ism_or_template(method, parts, url.query, body)
        if method == "GET" and not parts:
            return 200, {"name": "standin", "version": {"distribution": "opensearch", "number": "2.19.6"}}
        if method == "GET" and parts[:2] == ["_cat", "indices"] and len(parts) <= 3:
            pattern = parts[2] if len(parts) == 3 else "*"
            listed = sorted((name, docs) for name, docs in self.indices.items() if fnmatch.fnmatchcase(name, pattern))
            return 200, [{"index": name, "docs.count": str(len(docs))} for name, docs in listed]
        if method == "GET" and len(parts) == 3 and parts[1] == "_doc":
            doc = self.indices.get(parts[0], {}).get(parts[2])
            if doc is None:
                return 404, {"_index": parts[0], "_id": parts[2], "found": False}
            return 200, {"_index": parts[0], "_id": parts[2], "found": True, **doc}
        return 400, _error(400, "illegal_argument_exception", f"no handler for {method} {path}")

    def _search_ids(self, patterns: str, body: bytes) -> tuple[int, Any]:
        """An `ids` query over the indices `patterns` match (comma-separated, with *), as a real node answers it."""
        try:
            request = json.loads(body)
            wanted = set(request["query"]["ids"]["values"])
            size = int(request.get("size", 10))
        except (ValueError, KeyError, TypeError):
            return 400, _error(400, "parsing_exception", "the stand-in answers an ids query only")
        with self._lock:
            hits = [
                {"_index": index, "_id": doc_id, "_score": 1.0}
                for index, docs in sorted(self.indices.items())
                if any(fnmatch.fnmatchcase(index, pattern) for pattern in patterns.split(","))
                for doc_id in docs
                if doc_id in wanted
            ]
        return 200, {"took": 1, "timed_out": False, "hits": {"total": {"value": len(hits)}, "hits": hits[:size]}}

    def _ism_or_template(self, method: str, parts: list[str], query: str, body: bytes) -> tuple[int, Any]:
        """ISM policies (with OpenSearch's optimistic concurrency), change_policy, and index templates."""
        params = dict(item.split("=", 1) for item in query.split("&") if "=" in item)
        if parts[:1] == ["_index_template"] and len(parts) == 2:
            name = parts[1]
            if method == "PUT":
                self.index_templates[name] = json.loads(body)
                return 200, {"acknowledged": True}
            if method == "DELETE" and name in self.index_templates:
                del self.index_templates[name]
                return 200, {"acknowledged": True}
            if method == "GET" and name in self.index_templates:
                return 200, {"index_templates": [{"name": name, "index_template": self.index_templates[name]}]}
            return 404, _error(404, "resource_not_found_exception", f"index template matching [{name}] not found")
        if parts[2:3] == ["change_policy"] and len(parts) == 4 and method == "POST":
            pattern, policy_id = parts[3], json.loads(body)["policy_id"]
            if policy_id not in self.ism_policies:
                return 404, _error(404, "resource_not_found_exception", f"Could not find policy={policy_id}")
            self.policy_changes.append((pattern, policy_id))
            moved = [name for name in self.indices if fnmatch.fnmatchcase(name, pattern)]
            return 200, {"updated_indices": len(moved), "failures": False, "failed_indices": []}
        if parts[2:3] == ["policies"] and len(parts) == 4:
            policy_id, known = parts[3], self.ism_policies.get(parts[3])
            if method == "GET" and known:
                return 200, {
                    "_id": policy_id,
                    "_version": known["version"],
                    "_seq_no": known["seq_no"],
                    "_primary_term": 1,
                    "policy": known["policy"],
                }
            if method == "PUT":
                if known and (params.get("if_seq_no") != str(known["seq_no"]) or params.get("if_primary_term") != "1"):
                    return 409, _error(
                        409,
                        "version_conflict_engine_exception",
                        f"[{policy_id}]: version conflict, required seqNo [{params.get('if_seq_no')}], "
                        f"primary term [{params.get('if_primary_term')}]. current document has seqNo "
                        f"[{known['seq_no']}] and primary term [1]",
                    )
                version = known["version"] + 1 if known else 1
                self.ism_policies[policy_id] = {
                    "policy": json.loads(body)["policy"],
                    "seq_no": next(self._ids),
                    "version": version,
                }
                return (200 if known else 201), {"_id": policy_id, "_version": version, "_primary_term": 1}
            if method == "DELETE" and known:
                del self.ism_policies[policy_id]
                return 200, {"_id": policy_id, "result": "deleted"}
            return 404, _error(404, "status_exception", "Policy not found")
        return 400, _error(400, "illegal_argument_exception", f"no handler for {method} /{'/'.join(parts)}")

    def _bulk(self, body: bytes, default_index: str | None) -> tuple[int, Any]:
        if not body.endswith(b"\n"):
            return 400, _error(
                400, "illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"
            )
        lines = body.split(b"\n")[:-1]
        items = []
        line_no = 0
        with self._lock:
            while line_no < len(lines):
                action_no = line_no + 1
                try:
                    action_doc = json.loads(lines[line_no])
                except ValueError as err:
                    return 400, _error(
                        400,
                        "json_parse_exception",
                        f"Unexpected character in action/metadata line [{action_no}]: {err}",
                    )
                if not (isinstance(action_doc, dict) and len(action_doc) == 1 and next(iter(action_doc)) in _ACTIONS):
                    return 400, _error(
                        400,
                        "illegal_argument_exception",
                        f"Malformed action/metadata line [{action_no}], expected one of {list(_ACTIONS)}",
                    )
                op, meta = next(iter(action_doc.items()))
                unknown = sorted(set(meta) - _ACTION_PARAMS)
                if unknown:
                    return 400, _error(
                        400,
                        "illegal_argument_exception",
                        f"Action/metadata line [{action_no}] contains an unknown parameter [{unknown[0]}]",
                    )
                if op == "delete":
                    line_no += 1
                    items.append({op: self._delete(meta.get("_index", default_index), meta.get("_id"))})
                    continue
                if line_no + 1 >= len(lines):
                    return 400, _error(
                        400,
                        "illegal_argument_exception",
                        f"Validation Failed: 1: no requests added; action/metadata line [{action_no}] "
                        "has no source line",
                    )
                source_line = lines[line_no + 1]
                line_no += 2
                items.append({op: self._index(op, meta.get("_index", default_index), meta.get("_id"), source_line)})
        errors = any(next(iter(item.values()))["status"] >= 300 for item in items)
        return 200, {"took": 1, "errors": errors, "items": items}

    def _index(self, op: str, index: str | None, doc_id: str | None, source_line: bytes) -> dict[str, Any]:
        head: dict[str, Any] = {"_index": index, "_id": doc_id}
        if not index:
            return {**head, **_item_error(400, "action_request_validation_exception", "index is missing")}
        if index != index.lower() or set(index) & _BAD_INDEX_CHARS or index[0] in "_-+" or len(index.encode()) > 255:
            return {**head, **_item_error(400, "invalid_index_name_exception", f"Invalid index name [{index}]")}
        if self.service == "aoss" and doc_id is not None:
            return {
                **head,
                **_item_error(
                    400, "illegal_argument_exception", "Document ID is not supported in create/index operation request"
                ),
            }
        if self.item_fault:
            fault = self.item_fault(index, doc_id, source_line)
            if fault:
                return {**head, **_item_error(*fault)}
        try:
            source = json.loads(source_line, object_pairs_hook=_no_duplicates)
        except ValueError as err:
            return {**head, **_item_error(400, "mapper_parsing_exception", f"failed to parse: {err}")}
        if not isinstance(source, dict):
            return {
                **head,
                **_item_error(400, "mapper_parsing_exception", "failed to parse, document is empty or not an object"),
            }
        mapping = dict(self.mappings.get(index) or self._template_mapping(index))
        try:
            standin_mapping.map_document(source, mapping, doc_id)
        except standin_mapping.Refused as refused:
            return {**head, **_item_error(400, refused.error_type, refused.reason)}
        self.mappings[index] = mapping
        docs = self.indices.setdefault(index, {})
        doc_id = doc_id or f"auto-{next(self._ids):012d}"
        head["_id"] = doc_id
        if doc_id in docs:
            if op == "create":
                return {
                    **head,
                    **_item_error(
                        409,
                        "version_conflict_engine_exception",
                        f"[{doc_id}]: version conflict, document already exists",
                    ),
                }
            version = docs[doc_id]["_version"] + 1
            result, status = "updated", 200
        else:
            version, result, status = 1, "created", 201
        docs[doc_id] = {"_source": source, "_version": version}
        return {
            **head,
            "_version": version,
            "result": result,
            "_shards": {"total": 2, "successful": 1, "failed": 0},
            "_seq_no": next(self._ids),
            "_primary_term": 1,
            "status": status,
        }

    def _template_mapping(self, index: str) -> dict[str, str]:
        """A new index takes the mappings of the highest-priority index template that matches its name."""
        matching = [
            template
            for template in self.index_templates.values()
            if any(fnmatch.fnmatchcase(index, pattern) for pattern in template.get("index_patterns", []))
        ]
        if not matching:
            return {}
        best = max(matching, key=lambda template: int(template.get("priority", 0)))
        return standin_mapping.from_template(best.get("template", {}).get("mappings", {}).get("properties", {}))

    def _delete(self, index: str | None, doc_id: str | None) -> dict[str, Any]:
        found = self.indices.get(index or "", {}).pop(doc_id or "", None)
        return {
            "_index": index,
            "_id": doc_id,
            "result": "deleted" if found else "not_found",
            "status": 200 if found else 404,
        }


def filter_path(answer: Any, expression: str) -> Any:
    """OpenSearch's `filter_path` as far as the forwarder uses it: comma-separated dotted paths whose parts
    are keys or `*` patterns; a list passes the paths on to its elements; what matches nothing is left out."""
    return _kept(answer, [path.split(".") for path in expression.split(",") if path]) or {}


def _kept(value: Any, paths: list[list[str]]) -> Any:
    if isinstance(value, list):
        return [kept for item in value if (kept := _kept(item, paths)) is not None] or None
    if not isinstance(value, dict):
        return None
    found = {}
    for key, child in value.items():
        rests = [path[1:] for path in paths if fnmatch.fnmatchcase(key, path[0])]
        if any(not rest for rest in rests):
            found[key] = child
        elif rests and (kept := _kept(child, rests)) is not None:
            found[key] = kept
    return found or None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"Duplicate field '{key}'")
        result[key] = value
    return result


_STATUS_ERRORS = {
    429: "es_rejected_execution_exception",
    502: "bad_gateway",
    503: "unavailable_shards_exception",
    504: "gateway_timeout",
}


def _error(status: int, kind: str, reason: str) -> dict[str, Any]:
    cause = {"type": kind, "reason": reason}
    return {"error": {"root_cause": [cause], **cause}, "status": status}


def _item_error(status: int, kind: str, reason: str) -> dict[str, Any]:
    return {"status": status, "error": {"type": kind, "reason": reason}}


class _Handler(BaseHTTPRequestHandler):
    owner: StandIn
    protocol_version = "HTTP/1.1"  # keep-alive, as OpenSearch
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        wire = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        owner = self.owner
        fault = owner.request_fault(urlsplit(self.path).path) if owner.request_fault else None
        fault = fault or Fault()
        if fault.drop and not fault.serve_first:
            self.close_connection = True
            return
        if fault.status is not None:
            status, answer = fault.status, _error(fault.status, _STATUS_ERRORS.get(fault.status, "error"), "injected")
        else:
            status, answer = owner.handle(self.command, self.path, headers, wire)
            if fault.mangle:
                answer = fault.mangle(answer)
        body_bytes = len(wire)
        if headers.get("content-encoding", "").lower() == "gzip":
            with contextlib.suppress(OSError):
                body_bytes = len(gzip.decompress(wire))
        owner.seen.append(
            Seen(
                self.command,
                self.path,
                status,
                len(wire),
                body_bytes,
                headers.get("content-encoding"),
                self.client_address[1],
                headers,
            )
        )
        if fault.drop:
            self.close_connection = True
            return
        time.sleep(fault.delay)
        # Compact, as OpenSearch writes it; or the fault's bytes, whatever they are.
        payload = fault.raw if fault.raw is not None else json.dumps(answer, separators=(",", ":")).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:  # the client gave up waiting (its read timeout)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve
