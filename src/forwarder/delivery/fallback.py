"""The safe form of a document OpenSearch refused for its content.

A mapping conflict (`status` a number in one service's logs and a string in
another's), the total-fields limit or a bad field name refuses a document for
its fields, not its line. Re-sent with only the `@`-fields, the embedded JSON
as one string field and the reason in another, the line is still indexed and
searchable; only if that is refused too does it go to the dead letter.
"""

from __future__ import annotations

import re

from forwarder import jsjson
from forwarder.documents.document import Document
from forwarder.documents.schema import AT_FIELDS, FALLBACK_REASON, FIELDS_JSON

_CONTENT_ERRORS = frozenset(
    {"mapper_parsing_exception", "document_parsing_exception", "strict_dynamic_mapping_exception"}
)
# illegal_argument_exception also means other things (e.g. Serverless refusing `_id`);
# only these are about the document's fields.
_FIELD_PROBLEM = re.compile(r"field|mapper|mapping", re.IGNORECASE)


def is_content_rejection(error_type: str, reason: str) -> bool:
    return error_type in _CONTENT_ERRORS or (
        error_type == "illegal_argument_exception" and bool(_FIELD_PROBLEM.search(reason))
    )


def safe_form(document: Document, reason: str) -> Document:
    """The same index and `_id`, with only the `@`-fields as fields."""
    source = jsjson.loads(document.source)
    safe = {key: source[key] for key in AT_FIELDS if key in source}
    rest = {key: value for key, value in source.items() if key not in AT_FIELDS}
    if rest:
        safe[FIELDS_JSON] = jsjson.dumps(rest).decode()
    safe[FALLBACK_REASON] = reason
    return document._replace(source=jsjson.dumps(safe))
