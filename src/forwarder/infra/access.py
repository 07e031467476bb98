"""Fine-grained access control the stack owns: its roles and their mappings in the security plugin.

With a master user's secret (MasterUserSecretArn) the bootstrap makes, through the
security plugin's REST API:

- `<prefix>-forwarder`: what a `_bulk` writer needs on `<prefix>-*` and nothing else.
  Writing documents (`indices:data/write/bulk*`, `.../index`), creating the prefix's
  indices and adding the fields a new log line brings (`indices:admin/create`,
  `indices:admin/mapping/put`; without it each new field is a 403 on its item), and
  `indices:data/write/bulk` as a cluster permission, where older engines of the managed
  service check it. No `*`, no `indices_all`, no `cluster_all`.
  Mapped to the forwarder's role ARN (and the scheduled reconcile's) as backend roles,
  and to ForwarderUsers, internal users that send with basic auth.
- `<prefix>-reader`: `indices:data/read/search` on `<prefix>-*`, what backfill and
  reconcile ask before they write (which ids exist, how many documents an hour holds).
  Mapped to the scheduled reconcile's role ARN.

Put on Create and Update (a PUT replaces: running twice leaves the same), removed on
Delete unless RetainOnDelete.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WRITER_INDEX_ACTIONS = (
    "indices:data/write/bulk*",
    "indices:data/write/index",
    "indices:admin/create",
    "indices:admin/mapping/put",
)
WRITER_CLUSTER_ACTIONS = ("indices:data/write/bulk",)
READER_INDEX_ACTIONS = ("indices:data/read/search",)
API = "/_plugins/_security/api"


@dataclass(frozen=True)
class Access:
    """The stack's principals, as the bootstrap's properties name them."""

    index_prefix: str
    writer_roles: tuple[str, ...] = ()  # IAM role ARNs that write: the forwarder's, the scheduled reconcile's
    writer_users: tuple[str, ...] = ()  # internal users that write (ForwarderUsers)
    reader_roles: tuple[str, ...] = ()  # IAM role ARNs that read before they write: the scheduled reconcile's

    @property
    def writer(self) -> str:
        return f"{self.index_prefix}-forwarder"

    @property
    def reader(self) -> str:
        return f"{self.index_prefix}-reader"

    def roles(self) -> dict[str, dict[str, Any]]:
        """Each role's name and body, as PUT .../roles/NAME takes it."""
        pattern = [f"{self.index_prefix}-*"]
        return {
            self.writer: {
                "description": f"cwl-opensearch-forwarder: write logs into {pattern[0]}, nothing else",
                "cluster_permissions": list(WRITER_CLUSTER_ACTIONS),
                "index_permissions": [{"index_patterns": pattern, "allowed_actions": list(WRITER_INDEX_ACTIONS)}],
            },
            self.reader: {
                "description": f"cwl-opensearch-forwarder: read {pattern[0]} (backfill and reconcile)",
                "cluster_permissions": [],
                "index_permissions": [{"index_patterns": pattern, "allowed_actions": list(READER_INDEX_ACTIONS)}],
            },
        }

    def mappings(self) -> dict[str, dict[str, Any]]:
        """Each role's mapping, as PUT .../rolesmapping/NAME takes it."""
        return {
            self.writer: {"backend_roles": list(self.writer_roles), "users": list(self.writer_users), "hosts": []},
            self.reader: {"backend_roles": list(self.reader_roles), "users": [], "hosts": []},
        }


def requests(access: Access) -> list[tuple[str, str, dict[str, Any]]]:
    """The PUTs that make the roles, then their mappings (a mapping names a role that exists)."""
    made = [("PUT", f"{API}/roles/{name}", body) for name, body in access.roles().items()]
    return made + [("PUT", f"{API}/rolesmapping/{name}", body) for name, body in access.mappings().items()]


def removals(access: Access) -> list[tuple[str, str]]:
    """The DELETEs that remove them: the mappings first."""
    names = list(access.roles())
    return [("DELETE", f"{API}/rolesmapping/{name}") for name in names] + [
        ("DELETE", f"{API}/roles/{name}") for name in names
    ]
