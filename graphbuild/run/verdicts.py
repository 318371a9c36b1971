"""Verdicts: "this version of this target passed ``graphbuild test``", kept in the action cache.

After a run, every selected target whose actions all passed (or were skipped with a reason, like an
offline check) gets a verdict stored under a key made of its data fingerprint and its actions' keys,
so a toolchain or check change voids it. Verdicts travel through the layered cache like any result,
which is how a promotion plan made on another machine knows the fingerprints it promotes were tested.
Promotion reads them with ``get_verified``: a verdict copied from another target's key never counts;
where the shared cache's signing key is set, neither does one without a valid signature. A cache with
no signing key only binds entries to their keys: whoever can write its folder can forge a verdict
there, so staging and prod plans are made where the key is set (CI).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

from graphbuild.cache.definition import ActionKey, Cache, CacheReader, CachedResult, action_key
from graphbuild.labels import Label
from graphbuild.run.action import Action, Outcome
from graphbuild.run.scheduler import ActionResult
from graphbuild.values import canonical_json

__all__ = ["record_verdicts", "tested_predicate", "verdict_key"]


def verdict_key(fingerprint: str, keys: Iterable[ActionKey]) -> ActionKey:
    return ActionKey(hashlib.sha256(canonical_json({"verdict": fingerprint, "actions": sorted(keys)}).encode()).hexdigest())


def record_verdicts(
    cache: Cache,
    labels: Sequence[Label],
    results: Sequence[ActionResult],
    fingerprints: Mapping[Label, str],
    is_unchanged: Callable[[Label], bool] = lambda label: True,
) -> int:
    """Store the verdict of every label whose actions all passed (or were skipped with a reason).

    A verdict already stored is not rewritten unless an action of the target passed in this run
    (a no-op run writes nothing, even where a check skips itself every time); ``is_unchanged`` is
    asked only about a verdict to write: a target whose inputs changed while the run went on gets none.
    """
    by_label: dict[Label, list[ActionResult]] = {label: [] for label in labels}
    for result in results:
        if result.action.label in by_label:
            by_label[result.action.label].append(result)
    stored = 0
    for label, mine in by_label.items():
        if mine and all(r.outcome.status == "passed" or _skipped_with_reason(r) for r in mine):
            key = verdict_key(fingerprints[label], (r.key for r in mine))
            passed_now = any(r.outcome.status == "passed" and not r.is_cached for r in mine)
            if (not passed_now and cache.contains(key)) or not is_unchanged(label):
                continue
            summary = f"{sum(r.outcome.status == 'passed' for r in mine)} passed, {sum(r.outcome.status == 'skipped' for r in mine)} skipped"
            cache.put(key, CachedResult(f"{label}#tested", Outcome("passed", summary), 0.0))
            stored += 1
    return stored


def _skipped_with_reason(result: ActionResult) -> bool:
    return result.outcome.status == "skipped" and not result.outcome.summary.startswith("not run:")


def tested_predicate(
    cache: CacheReader, actions_of: Callable[[Label], Sequence[Action]], fingerprints: Mapping[Label, str]
) -> Callable[[Label], bool]:
    """``tested(label)``: did this version of the target pass ``graphbuild test`` (here or on a writer)?"""

    def tested(label: Label) -> bool:
        keys = [action_key(a, fingerprints[label]) for a in actions_of(label)]
        found = cache.get_verified(verdict_key(fingerprints[label], keys)) if keys else None
        return found is not None and found.action_id == f"{label}#tested" and found.outcome.status == "passed"

    return tested
