"""Send documents to OpenSearch until each one is indexed, undeliverable, or out of time.

Documents go out in `_bulk` chunks bounded by bytes and count. A 413 splits the
chunk in halves. Whole-request 429/5xx, transport errors and per-item 429/5xx are
retried, only the documents that need it, after an exponential backoff with full
jitter, until the deadline. A document refused for its content is re-sent once in
its safe form (fallback.py). What is left is returned, not raised: the caller
dead-letters the undeliverable and decides what to do with the pending.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import repeat

from forwarder.budget import Deadline
from forwarder.delivery import bulk, fallback, tracing
from forwarder.delivery.sink import OpenSearchSink, Response
from forwarder.documents.document import Document, Documents
from forwarder.errors import TransportError
from forwarder.log import logger
from forwarder.settings import Settings

RETRYABLE_REQUEST = frozenset({429, 500, 502, 503, 504})
RETRYABLE_ITEM = frozenset({429, 502, 503, 504})
MAYBE_INDEXED = "an earlier attempt went unanswered, so it may be indexed too; a replay overwrites it by _id"


@dataclass(frozen=True)
class Undelivered:
    """A document that is not indexed, with the last answer about it."""

    document: Document  # as transform made it, not its safe form
    status: int | None  # None: no HTTP answer
    error_type: str
    reason: str
    attempts: int
    position: int = 0  # of the document in what was delivered


@dataclass
class Outcome:
    """Where every document ended: indexed + fallback + already_indexed + len(dead) + len(pending) == documents."""

    indexed: int = 0  # as made
    fallback: int = 0  # in its safe form
    already_indexed: int = 0  # the `create` op only (backfill): a document with its _id was there already
    retried: int = 0  # documents sent again after a transient failure (whatever their end)
    requests: int = 0
    latencies_ms: list[float] = field(default_factory=list)  # of each _bulk request that was answered
    dead: list[Undelivered] = field(default_factory=list)  # for the dead letter
    pending: list[Undelivered] = field(default_factory=list)  # retryable, but time ran out


@dataclass
class _Work:
    documents: Documents
    position: int  # of the document in `documents`
    lines: bytes  # what is sent: the document's `_bulk` lines, or its safe form's
    attempts: int = 0
    transient_failures: int = 0
    answer_lost: bool = False  # an attempt went unanswered after it may have reached OpenSearch
    fallback_reason: str | None = None
    status: int | None = None
    error_type: str = ""
    reason: str = ""

    @property
    def document(self) -> Document:
        return self.documents[self.position]

    def failed(self, status: int | None, error_type: str, reason: str) -> _Work:
        self.status, self.error_type, self.reason = status, error_type, reason
        return self

    def undelivered(self, note: str = "") -> Undelivered:
        reason = self.reason
        if self.fallback_reason:
            reason = f"{reason} (safe form, after: {self.fallback_reason})"
        if note:
            reason = f"{note}; last: {reason}" if reason else note
        return Undelivered(self.document, self.status, self.error_type, reason, self.attempts, self.position)


def _refusal(answer: Response, settings: Settings) -> str:
    return _with_fix(answer.status, f"_bulk answered HTTP {answer.status}: {answer.excerpt()}", settings)


def _with_fix(status: int | None, reason: str, settings: Settings, error_type: str = "security_exception") -> str:
    """A 401/403 of the request, or an item's security_exception, says what to do: fine-grained access
    control refused us (an item's 403 may be something else, a read-only block)."""
    if status not in (401, 403) or error_type != "security_exception" or settings.serverless:
        return reason
    who = (
        "the internal user of OPENSEARCH_SECRET_ARN"
        if settings.secret_arn
        else f"this function's role {settings.role_arn or '(the stack output ForwarderRoleArn)'}"
    )
    return (
        f"{reason} -- HTTP {status}: fine-grained access control refused {who}: map it to a role that may write "
        f"{settings.index_prefix}-*, or deploy with MasterUserSecretArn and the stack maps it (docs/deploy.md)"
    )


@dataclass(frozen=True)
class _FirstRequest:
    """documents[start:stop], first sent as one `_bulk` body: their lines, or the whole payload's body."""

    documents: Documents
    start: int
    stop: int
    lines: list[bytes] | None  # None: the payload joined whole; lines are made only if an answer needs them
    whole: bytes = b""

    def body(self) -> bytes:
        """Joined as it is sent, so that no earlier request's body is held meanwhile."""
        return self.whole if self.lines is None else b"".join(self.lines)

    def works(self, attempts: int, with_id: bool, op: str, among: list[int] | None = None) -> list[_Work]:
        """The bookkeeping of each document (or of those `among` the request's positions), made only once an
        answer (or the deadline) needs it."""
        documents, start = self.documents, self.start
        among = list(range(self.stop - start)) if among is None else among
        positions = [start + position for position in among]
        if self.lines is not None:
            lines = list(map(self.lines.__getitem__, among))
        else:
            lines = bulk.lines(documents.at(positions), with_id, op)
        return list(map(_Work, repeat(documents), positions, lines, repeat(attempts)))


def _items_of(body: bytes, sent: int) -> tuple[list[bulk.ItemResult] | None, str]:
    """A 2xx answer's item per document sent, or None and why the answer cannot say."""
    try:
        results = bulk.parse_items(body, sent)
    except ValueError as err:
        return None, f"unreadable _bulk answer: {err}"
    if len(results) != sent:
        return None, f"_bulk answered {len(results)} items for {sent} documents"
    return results, ""


def _work_size(work: _Work) -> int:
    return len(work.lines)


class Delivery:
    """One delivery run; `deliver()` is the way to use it."""

    def __init__(
        self,
        sink: OpenSearchSink,
        settings: Settings,
        deadline: Deadline,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
        op: str = bulk.INDEX,
    ) -> None:
        self._op = op
        self._sink = sink
        self._settings = settings
        self._deadline = deadline
        self._sleep = sleep
        self._jitter = jitter
        self.outcome = Outcome()
        self._retry: list[_Work] = []  # transient failures: after a backoff
        self._resend: list[_Work] = []  # safe forms: right away

    def run(self, documents: Documents) -> Outcome:
        self._retry, self._resend = [], []
        self._send_firsts(documents)
        backoffs = 0
        while True:
            if self._retry:
                self.outcome.retried += sum(1 for item in self._retry if item.transient_failures == 1)
                first = self._retry[0]
                delay = self._backoff_delay(backoffs)
                logger.info(
                    "retrying",
                    extra={
                        "documents": len(self._retry),
                        "round": backoffs + 1,
                        "status": first.status,
                        "error_type": first.error_type,
                        "last": first.reason[:200],
                        "in_seconds": round(delay, 2),
                        "seconds_left": round(self._deadline.remaining(), 1),
                        "bounded_by": self._deadline.bound,
                    },
                )
                if delay > 0:
                    self._sleep(delay)
                backoffs += 1
            work = self._resend + self._retry
            if not work:
                return self.outcome
            self._retry, self._resend = [], []
            for start, stop in self._spans(list(map(_work_size, work))):
                self._send(work[start:stop])

    def _send_firsts(self, documents: Documents) -> None:
        """Each first request, in a frame of its own: the last one's body is not held through the retry rounds."""
        for request in self._first_requests(documents):
            self._send_first(request)

    def _first_requests(self, documents: Documents) -> Iterator[_FirstRequest]:
        """Each first request: nearly every payload fits in one, joined whole."""
        if not documents:
            return
        settings, with_id, op = self._settings, self._settings.sends_ids, self._op
        # Joined whole only where it may fit: a body joined for nothing raised the peak RSS at 10,000 events by 7 MB.
        fits = len(documents) <= settings.bulk_max_docs
        if fits and bulk.least_size(documents, with_id, op) <= settings.bulk_max_bytes:
            whole = bulk.ndjson(documents, with_id, op)
            if len(whole) <= settings.bulk_max_bytes:
                yield _FirstRequest(documents, 0, len(documents), None, whole)
                return
        lines = bulk.lines(documents, with_id, op)
        for start, stop in self._spans(list(map(len, lines))):
            yield _FirstRequest(documents, start, stop, lines[start:stop])

    def _spans(self, sizes: list[int]) -> Iterator[tuple[int, int]]:
        return bulk.spans(sizes, self._settings.bulk_max_bytes, self._settings.bulk_max_docs)

    def _backoff_delay(self, backoffs: int) -> float:
        """Full jitter up to base * 2**backoffs, capped, and never past the deadline."""
        ceiling = min(self._settings.retry_max_delay, self._settings.retry_base_delay * 2**backoffs)
        return min(self._jitter(0, ceiling), max(self._deadline.remaining(), 0))

    def _send_first(self, request: _FirstRequest) -> None:
        """The first attempt at a request's documents, as `_send`, with a _Work made only for a document the
        answer refuses (for all of them if it says nothing per document).

        A 2xx answer that refuses some documents makes a _Work for those only: most documents are accepted,
        and a _Work each for them cost CPU end to end on every mix measured (bench/second_versions.py;
        docs/performance.md, "Figures behind the code").
        """
        if self._deadline.expired():
            self._out_of_time(request.works(0, self._settings.sends_ids, self._op))
            return
        sent = request.stop - request.start
        answer = self._request(request.body(), sent)
        with_id, op = self._settings.sends_ids, self._op
        if isinstance(answer, Response) and 200 <= answer.status < 300:
            if bulk.all_succeeded(answer.body, sent):
                self.outcome.indexed += sent
                return
            results, problem = _items_of(answer.body, sent)
            if results is None:
                self._bad_answer(request.works(1, with_id, op), problem)
                return
            refused = [position for position, result in enumerate(results) if not result.ok]
            self.outcome.indexed += sent - len(refused)  # only the documents refused need bookkeeping
            self._settle_items(request.works(1, with_id, op, refused), list(map(results.__getitem__, refused)))
            return
        self._answered(request.works(1, with_id, op), answer)

    def _send(self, chunk: list[_Work]) -> None:
        if self._deadline.expired():
            self._out_of_time(chunk)
            return
        for item in chunk:
            item.attempts += 1
        self._answered(chunk, self._request(b"".join(item.lines for item in chunk), len(chunk)))

    def _request(self, body: bytes, documents: int) -> Response | TransportError:
        """One `_bulk` request: its answer, or the transport error that left it unanswered."""
        self.outcome.requests += 1
        started = time.monotonic()
        try:
            with tracing.bulk_span(self._settings.tracing, documents):
                answer = self._sink.bulk(body, time_left=self._deadline.remaining())
        except TransportError as err:
            return err
        self.outcome.latencies_ms.append((time.monotonic() - started) * 1000)
        return answer

    def _answered(self, chunk: list[_Work], answer: Response | TransportError) -> None:
        """Where each document of `chunk` goes after one attempt's answer (or its absence)."""
        if isinstance(answer, TransportError):
            self._transient(chunk, None, "transport_error", str(answer), maybe_processed=answer.maybe_processed)
        elif answer.status == 413 and len(chunk) > 1:
            half = len(chunk) // 2
            self._send(chunk[:half])
            self._send(chunk[half:])
        elif answer.status in RETRYABLE_REQUEST:
            self._transient(chunk, answer.status, "http_error", _refusal(answer, self._settings))
        elif not 200 <= answer.status < 300:
            # 413 for one document, 400/401/403/404: sending the same again cannot succeed.
            for item in chunk:
                self._dead(item.failed(answer.status, "http_error", _refusal(answer, self._settings)))
        else:
            self._read_items(chunk, answer.body)

    def _read_items(self, chunk: list[_Work], body: bytes) -> None:
        results, problem = _items_of(body, len(chunk))
        if results is None:
            self._bad_answer(chunk, problem)
            return
        self._settle_items(chunk, results)

    def _bad_answer(self, chunk: list[_Work], problem: str) -> None:
        """A 2xx answer that does not say what became of each document: any may be indexed; sent again."""
        self._transient(chunk, None, "bad_answer", problem, maybe_processed=True)

    def _settle_items(self, chunk: list[_Work], results: list[bulk.ItemResult]) -> None:
        """Where each document goes after its own item of a 2xx answer."""
        for item, result in zip(chunk, results, strict=True):
            if result.ok:
                if item.fallback_reason is None:
                    self.outcome.indexed += 1
                else:
                    self.outcome.fallback += 1
            elif self._op == bulk.CREATE and (result.status, result.error_type) == bulk.ALREADY_THERE:
                if item.answer_lost:  # our own earlier, unanswered attempt got through
                    self.outcome.fallback += item.fallback_reason is not None
                    self.outcome.indexed += item.fallback_reason is None
                else:
                    self.outcome.already_indexed += 1
            elif result.error_type == bulk.BAD_ANSWER:  # indexed or not, the answer does not say
                self._transient([item], result.status, result.error_type, result.reason, maybe_processed=True)
            elif result.status in RETRYABLE_ITEM:
                self._transient([item], result.status, result.error_type, result.reason)
            elif item.fallback_reason is None and fallback.is_content_rejection(result.error_type, result.reason):
                item.fallback_reason = f"{result.error_type}: {result.reason}"
                safe = fallback.safe_form(item.document, item.fallback_reason)
                item.lines = bulk.line(*safe, with_id=self._settings.sends_ids, op=self._op)
                self._resend.append(item.failed(result.status, result.error_type, result.reason))
            else:
                reason = _with_fix(result.status, result.reason, self._settings, result.error_type)
                self._dead(item.failed(result.status, result.error_type, reason))

    def _transient(
        self,
        chunk: list[_Work],
        status: int | None,
        error_type: str,
        reason: str,
        maybe_processed: bool = False,
    ) -> None:
        for item in chunk:
            item.failed(status, error_type, reason)
            item.answer_lost |= maybe_processed
            if maybe_processed and not self._settings.sends_ids:
                # Without `_id` a re-send may index the line twice: the dead letter decides.
                self._dead(item, "no answer and no _id to re-send safely: it may have been indexed")
                continue
            item.transient_failures += 1
            self._retry.append(item)

    def _out_of_time(self, chunk: list[_Work]) -> None:
        for item in chunk:
            note = "retry time ran out" if item.attempts else "not sent: retry time ran out"
            if self._settings.sends_ids:
                self.outcome.pending.append(item.undelivered(note))
            else:
                self._dead(item, note)

    def _dead(self, item: _Work, note: str = "") -> None:
        if item.answer_lost and not note:  # refused now, but an earlier attempt may have got through
            note = MAYBE_INDEXED
        self.outcome.dead.append(item.undelivered(note))


def deliver(
    documents: Documents, sink: OpenSearchSink, settings: Settings, deadline: Deadline, op: str = bulk.INDEX
) -> Outcome:
    """Deliver `documents` with the `_bulk` action `op`; see Outcome for where each one ends."""
    return Delivery(sink, settings, deadline, op=op).run(documents)
