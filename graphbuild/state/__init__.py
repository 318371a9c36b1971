"""Environment state: the store, leases with fencing, deploy journals, pointers and the audit trail.

>>> import tempfile; tmp = tempfile.TemporaryDirectory()
>>> store = LocalStore(tmp.name)
>>> lease = Leases(store).acquire("dev", "alice@laptop", ttl_s=300)
>>> _ = Journal(store, "dev", "3f2a").record("step-1", "succeeded", lease)
>>> Pointers(store).move("dev", None, Pointer("dev", "3f2a", "c0ffee", moved_by="alice"), lease).position
0
>>> Leases(store).release(lease)
True
>>> tmp.cleanup()
"""

from graphbuild.state.audit import GENESIS, AuditLog, AuditRecord, AuditReport, Secret, redact
from graphbuild.state.definition import StateReader, StateStore, check_digest, check_part, check_path
from graphbuild.state.journal import Journal, JournalEntry, StepState, journal_key
from graphbuild.state.lease import Fence, Heartbeat, Lease, Leases, fence_key, lease_key, read_fence, read_lease
from graphbuild.state.local import LocalStore
from graphbuild.state.pointer import Pointer, Pointers, history_key, pointer_key

__all__ = [
    "GENESIS",
    "AuditLog",
    "AuditRecord",
    "AuditReport",
    "Fence",
    "Heartbeat",
    "Journal",
    "JournalEntry",
    "Lease",
    "Leases",
    "LocalStore",
    "Pointer",
    "Pointers",
    "Secret",
    "StateReader",
    "StateStore",
    "StepState",
    "check_digest",
    "check_part",
    "check_path",
    "fence_key",
    "history_key",
    "journal_key",
    "lease_key",
    "pointer_key",
    "read_fence",
    "read_lease",
    "redact",
]
