"""How a dbt change moves an environment: SQLMesh's change categories, at column level.

A model whose own definition changed is rebuilt. Its change is *breaking* for a downstream model when
it drops, renames or retypes a column that model reads, or may change the rows (a filter, join or grain
change); *non-breaking* when it only adds columns or drops columns nobody downstream reads. A model
whose own definition is unchanged and whose changed upstreams are all non-breaking for it is not rebuilt:
it reuses its previous physical version (a view swap). Only data edges count: a model whose tests
alone read another (a check-only edge: a singular test's other refs) is not its reader, and is not
rebuilt for it. A column is *retyped* only when its data type changed; a new expression of the same
type is an *expression change*, breaking for its readers because its values change. Rebuilt
incremental models need a backfill::

    >>> changes = column_changes({"id": {"expression": "id"}}, {"id": {"expression": "id"}, "fee": {"expression": "fee"}})
    >>> changes.added, verdict(changes, rows=None, reads=Reads(frozenset({"id"}))).breaking
    (('fee',), False)
    >>> verdict(column_changes({"id": {}, "fee": {}}, {"id": {}}), rows=None, reads=Reads(frozenset({"fee"}))).reason
    'column dropped: fee'

What a model reads is found in its SQL (``reads_of``): every column name it mentions, anywhere, and
whether its output passes an upstream's columns through ``select *``. Rows "may change" unless the SQL
with the changed columns' projections cut out is the same before and after (``frame_of``). When the
SQL text cannot be read or parsed, the answer is the safe one: breaking.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from rules.deploy.dbt_sql import Reads, cast_type, data_type, frame_of, output_columns, reads_of

__all__ = [
    "Classification",
    "ColumnChanges",
    "Reads",
    "Verdict",
    "classify",
    "column_changes",
    "frame_of",
    "model_config",
    "output_columns",
    "reads_of",
    "verdict",
]

SourceReader = Callable[[Any, str, str], "bytes | None"]  # (fingerprinted, path, blob id) -> content

_TRAILING_ALIAS = re.compile(r"\s+AS\s+\S+$", re.I)
# Config keys that change how a model is stored or checked, never which rows or values it has.
_STORAGE_CONFIG = frozenset(
    "materialized persist_docs on_schema_change incremental_strategy unique_key contract docs grants tags "
    "full_refresh meta group access batch_size lookback concurrent_batches event_time begin start".split()
)


# --------------------------------------------------------------------------------------------------
# Column-level verdicts (pure, over plain values)


@dataclass(frozen=True, slots=True)
class ColumnChanges:
    """How a model's output columns changed; ``renamed`` pairs are (old, new).

    ``retyped``: its data type changed (YAML ``data_type``, else the type a top-level cast gives);
    ``reexpressed``: same type, another expression (its values change); ``constrained``: only its
    constraints changed (its values do not).
    """

    added: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    retyped: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    reexpressed: tuple[str, ...] = ()
    constrained: tuple[str, ...] = ()

    @property
    def lost(self) -> frozenset[str]:
        """Columns a reader can no longer read as before: gone, renamed, retyped, or with other values."""
        return frozenset(self.dropped) | frozenset(self.retyped) | {old for old, _ in self.renamed} | frozenset(self.reexpressed)

    @property
    def changed_names(self) -> frozenset[str]:
        return self.lost | frozenset(self.added) | {new for _, new in self.renamed} | frozenset(self.constrained)

    def items(self) -> list[tuple[str, str]]:
        """(the column a reader would read, what happened to it), in a stable order."""
        return (
            [(c, f"column added: {c}") for c in self.added]
            + [(c, f"column dropped: {c}") for c in self.dropped]
            + [(a, f"column renamed: {a} -> {b}") for a, b in self.renamed]
            + [(c, f"column retyped: {c}") for c in self.retyped]
            + [(c, f"column expression changed: {c}") for c in self.reexpressed]
            + [(c, f"column constraints changed: {c}") for c in self.constrained]
        )

    def describe(self) -> list[str]:
        return [text for _, text in self.items()]


def _signature(spec: Any) -> tuple[str, str, str]:
    """(expression, data type in one spelling, constraints) of a column.

    A spec with a ``data_type`` key (None: no type claim) is typed already, as the columns read from SQL
    are; only a spec without one has its expression parsed for a top-level cast.
    """
    spec = spec if isinstance(spec, Mapping) else {}
    expression = " ".join(str(spec.get("expression", "")).split())
    declared = spec["data_type"] if "data_type" in spec else (cast_type(expression) if "(" in expression else None)
    return (expression, data_type(declared) if declared else "", str(spec.get("constraints", "")))


def column_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> ColumnChanges:
    """Compare two ``{name: {"expression": ..., "data_type": ...}}`` column maps (names case-insensitive).

    A dropped and an added column with the same expression (alias aside) is a rename.
    """
    old = {str(k).lower(): _signature(v) for k, v in base.items() if k != "*"}
    new = {str(k).lower(): _signature(v) for k, v in head.items() if k != "*"}
    added = sorted(set(new) - set(old))
    dropped = sorted(set(old) - set(new))
    renamed = []
    for name in list(dropped):
        body = _TRAILING_ALIAS.sub("", old[name][0])
        match = next((a for a in added if body and _TRAILING_ALIAS.sub("", new[a][0]) == body), None)
        if match is not None:
            renamed.append((name, match))
            dropped.remove(name)
            added.remove(match)
    kept = sorted(set(old) & set(new))
    retyped = [n for n in kept if old[n][1] != new[n][1]]
    reexpressed = [n for n in kept if old[n][1] == new[n][1] and old[n][0] != new[n][0]]
    constrained = [n for n in kept if old[n][:2] == new[n][:2] and old[n][2] != new[n][2]]
    return ColumnChanges(tuple(added), tuple(dropped), tuple(retyped), tuple(renamed), tuple(reexpressed), tuple(constrained))


@dataclass(frozen=True, slots=True)
class Verdict:
    breaking: bool
    reason: str


def verdict(changes: ColumnChanges, *, rows: str | None, reads: Reads) -> Verdict:
    """Is an upstream change (its column changes, or why its rows may change) breaking for one reader?"""
    if rows is not None:
        return Verdict(True, rows)
    read = changes.lost if reads.names is None else changes.lost & reads.names
    if read:
        return Verdict(True, "; ".join(_worded(c, text, changes) for c, text in changes.items() if c in read))
    if reads.star and (changes.added or changes.lost):
        return Verdict(True, "its columns flow through select * ({})".format("; ".join(changes.describe())))
    return Verdict(False, "; ".join(changes.describe()) or "no column it reads changed")


# --------------------------------------------------------------------------------------------------
# Classification over fingerprinted revisions


@dataclass(frozen=True, slots=True)
class Classification:
    """What a deploy does with one model or seed.

    ``category``: new, unchanged, breaking, non-breaking (its own change), indirect (rebuilt for a
    breaking upstream change) or reuse (takes its previous physical version, ``reuse`` = that fingerprint).
    """

    category: str
    rebuild: bool
    reuse: str | None = None
    backfill: tuple[str, str] | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _OwnChange:
    columns: ColumnChanges
    rows: str | None  # why the rows may change; None if they cannot
    other: tuple[str, ...]  # changes that touch neither columns nor rows (tests, storage config)


@dataclass
class _Classifier:
    """One plan's classifications of one head against one base (each model once); used by one thread."""

    head: Any
    base: Any | None
    variables: Mapping[str, Any]
    read: SourceReader | None
    _memo: dict[Any, Classification] = field(default_factory=dict)
    _own: dict[Any, _OwnChange | None] = field(default_factory=dict)

    # ---- reading sources -------------------------------------------------------------------------
    def _text(self, revision: Any, label: Any) -> str | None:
        state = revision.states[label]
        path = f"{state.target.attributes.get('root')}/{state.target.attributes.get('path')}"
        blob = state.blobs.get(path)
        if self.read is None or blob is None:
            return None
        data = self.read(revision, path, blob)
        return None if data is None else data.decode("utf-8", "replace")

    # ---- own changes -----------------------------------------------------------------------------
    def own_change(self, label: Any) -> _OwnChange | None:
        """None when the target's own definition did not change (only its upstreams did)."""
        if label not in self._own:
            self._own[label] = self._own_change(label)
        return self._own[label]

    def _own_change(self, label: Any) -> _OwnChange | None:
        new, old = self.head.states[label], self.base.states[label]
        if new.own == old.own:
            return None
        kind = new.target.kind
        a, b = {**old.digest.data, **old.digest.private}, {**new.digest.data, **new.digest.private}
        if a == b and old.target.attributes == new.target.attributes:
            return _OwnChange(ColumnChanges(), "the rule or the global inputs changed", ())
        if kind == "dbt_model":
            return self._model_change(label, a, b)
        columns = column_changes(a.get("column") or {}, b.get("column") or {})
        changed = sorted(k for k in set(a) | set(b) if k != "column" and a.get(k) != b.get(k))
        rows = f"{', '.join(changed)} changed" if changed else None
        return _OwnChange(columns, rows, ())

    def _model_change(self, label: Any, a: Mapping[str, Any], b: Mapping[str, Any]) -> _OwnChange:
        old_text, new_text = self._text(self.base, label), self._text(self.head, label)
        old_cols = output_columns(old_text) if old_text else None
        new_cols = output_columns(new_text) if new_text else None
        yml_a = {k: v for k, v in (a.get("column") or {}).items() if k != "*"}
        yml_b = {k: v for k, v in (b.get("column") or {}).items() if k != "*"}
        if old_cols is not None and new_cols is not None:
            base_cols = {n: {"data_type": None, **s, **_yml_type(yml_a.get(n))} for n, s in old_cols.items()}
            head_cols = {n: {"data_type": None, **s, **_yml_type(yml_b.get(n))} for n, s in new_cols.items()}
        elif a.get("SQL body") == b.get("SQL body"):
            base_cols, head_cols = yml_a, yml_b
        else:  # the SQL cannot be read: no column-level claims, the rows verdict below says breaking
            base_cols = head_cols = {}
        columns = column_changes(base_cols, head_cols)
        rows = None
        if a.get("SQL body") != b.get("SQL body"):
            strip = columns.changed_names
            old_frame = frame_of(old_text, strip) if old_text else None
            new_frame = frame_of(new_text, strip) if new_text else None
            if old_frame is None or new_frame is None:
                rows = "SQL changed (not readable at column level: rows may change)"
            elif old_frame != new_frame:
                rows = "rows may change (filter, join or grain changed)"
        old_config, new_config = dict(a.get("config") or {}), dict(b.get("config") or {})
        config_keys = sorted(k for k in set(old_config) | set(new_config) if old_config.get(k) != new_config.get(k))
        if rows is None and any(k not in _STORAGE_CONFIG for k in config_keys):
            rows = f"config changed: {', '.join(k for k in config_keys if k not in _STORAGE_CONFIG)}"
        other = [f"config changed: {k}" for k in config_keys if k in _STORAGE_CONFIG]
        aspects = ("unit test", "singular test", "model property", "model test", "column test", "project config")
        other += [f"{aspect} changed" for aspect in aspects if a.get(aspect) != b.get(aspect)]
        if _tests_of(yml_a) != _tests_of(yml_b):
            other.append("column tests changed")
        return _OwnChange(columns, rows, tuple(other))

    # ---- verdicts ----------------------------------------------------------------------------------
    def upstream_verdict(self, reader: Any, upstream: Any) -> Verdict:
        """Is the change of ``upstream`` between base and head breaking for ``reader``?"""
        state = self.head.states[upstream]
        name, kind = upstream.name, state.target.kind
        if upstream not in self.base.states:
            return Verdict(True, f"new upstream {name}")
        if kind in ("dbt_model", "dbt_seed"):
            done = self._memo.get(upstream)
            if done is None:  # only a data cycle, which the graph refuses, leaves an upstream unclassified
                return Verdict(True, f"{name} could not be classified before its reader")
            if not done.rebuild:
                return Verdict(False, f"{name} is reused")
            own = self.own_change(upstream)
            if own is None:
                return Verdict(True, f"{name} is rebuilt for a breaking change upstream of it")
        elif kind == "dbt_source":
            own = self.own_change(upstream)
            if own is None:
                return Verdict(True, f"the producer of {name} changed")
        elif kind == "dbt_macro":
            return Verdict(True, f"macro changed: {name}")
        elif kind == "dbt_project":
            return Verdict(True, "project settings changed")
        else:
            return Verdict(True, f"upstream changed: {upstream}")
        placeholder = f"__ref__{name}" if kind != "dbt_source" else "__source__" + name.replace(".", "__", 1)
        text = self._text(self.head, reader)
        if text is None:
            reads = Reads(None, True)
        elif not _mentions(text, kind, name):
            reads = Reads(None, False)  # read only by its YAML tests (e.g. relationships): every column
        else:
            reads = reads_of(text, placeholder)
        found = verdict(own.columns, rows=own.rows, reads=reads)
        return Verdict(found.breaking, f"{found.reason} in {name}")

    def classify(self, label: Any) -> Classification:
        """Classify ``label``, and first the changed models it reads (an explicit stack: chains of any depth)."""
        stack, expanded = [label], set()
        while stack:
            top = stack[-1]
            if top in self._memo:
                stack.pop()
                continue
            waiting = [] if top in expanded else [u for u in self._classified_upstreams(top) if u not in self._memo]
            expanded.add(top)
            if waiting:
                stack.extend(reversed(waiting))
                continue
            stack.pop()
            self._memo[top] = self._classify(top)
        return self._memo[label]

    def _changed_data_upstreams(self, label: Any) -> list[Any]:
        """The upstreams ``label``'s data reads (check-only edges aside) that are new or changed, in label order."""
        base, head = self.base.states, self.head.states
        return list(dict.fromkeys(
            e.target for e in self.head.graph.deps[label]
            if not e.is_check_only
            and (e.target not in base or base[e.target].fingerprint.data != head[e.target].fingerprint.data)
        ))

    def _classified_upstreams(self, label: Any) -> list[Any]:
        """The upstreams whose classification ``_classify(label)`` needs: only for a change through upstreams."""
        if self.base is None or label not in self.base.states:
            return []
        if self.base.states[label].fingerprint.data == self.head.states[label].fingerprint.data:
            return []
        if self.own_change(label) is not None:
            return []
        return [u for u in self._changed_data_upstreams(label)
                if u in self.base.states and self.head.states[u].target.kind in ("dbt_model", "dbt_seed")]

    def _check_only_changes(self, label: Any) -> list[str]:
        """The names of changed targets only ``label``'s tests read (its data does not)."""
        base, head = self.base.states, self.head.states
        return sorted({
            e.target.name for e in self.head.graph.deps[label]
            if e.is_check_only and (e.target not in base or base[e.target].fingerprint.data != head[e.target].fingerprint.data)
        })

    def _classify(self, label: Any) -> Classification:
        state = self.head.states[label]
        backfill = self._backfill(label)
        if self.base is None or label not in self.base.states:
            return Classification("new", True, None, backfill, (f"new {state.target.kind.removeprefix('dbt_')}", *_backfill_note(backfill)))
        old = self.base.states[label]
        if old.fingerprint.data == state.fingerprint.data:
            return Classification("unchanged", False, old.fingerprint.data, None, ("unchanged",))
        own = self.own_change(label)
        if own is not None:
            return self._own_classification(label, own, backfill)
        verdicts = {u: self.upstream_verdict(label, u) for u in self._changed_data_upstreams(label)}
        breaking = [v.reason for v in verdicts.values() if v.breaking]
        if breaking:
            notes = [f"rebuilt: breaking upstream change: {r}" for r in breaking]
            return Classification("indirect", True, None, backfill, (*notes, *_backfill_note(backfill)))
        notes = []
        if verdicts:
            reasons = "; ".join(v.reason for v in verdicts.values())
            notes.append(f"reuses the previous version: upstream change is non-breaking for it ({reasons})")
        checked = self._check_only_changes(label)
        if checked:
            what = f"only its tests read {', '.join(checked)} (check-only), its data does not"
            notes.append(f"reuses the previous version: {what}" if not verdicts else f"its tests re-run: {what}")
        if not notes:
            notes.append("reuses the previous version: its data inputs did not change")
        return Classification("reuse", False, old.fingerprint.data, None, tuple(notes))

    def _own_classification(self, label: Any, own: _OwnChange, backfill: tuple[str, str] | None) -> Classification:
        readers = self._data_readers(label)
        notes: list[str] = []
        if own.rows is not None:
            notes.append(f"breaking: {own.rows}" + (f" (read by {', '.join(r.name for r in readers)})" if readers else ""))
        by_change: dict[str, list[str]] = {}
        for reader in readers:
            text = self._text(self.head, reader)
            placeholder = f"__ref__{label.name}"
            reads = reads_of(text, placeholder) if text else Reads(None, True)
            for column, change in own.columns.items():
                lost = column in own.columns.lost
                if (lost and (reads.names is None or column in reads.names)) or reads.star:
                    by_change.setdefault(change, []).append(reader.name)
        breaking = own.rows is not None
        for column, change in own.columns.items():
            who = by_change.get(change, [])
            if who and column in own.columns.reexpressed:
                breaking = True
                notes.append(f"breaking: {change} (read by {', '.join(who)}: its values change)")
            elif who and column in own.columns.lost:
                breaking = True
                notes.append(f"breaking: {change} (read by {', '.join(who)})")
            elif who:
                notes.append(f"non-breaking: {change} (flows through select * into {', '.join(who)})")
            elif column in own.columns.lost:
                notes.append(f"non-breaking: {change} (read by no downstream model)")
            else:
                notes.append(f"non-breaking: {change}")
        notes += [f"non-breaking: {o}" for o in own.other]
        if not notes:
            notes.append("non-breaking: definition changed without changing its columns or rows")
        return Classification("breaking" if breaking else "non-breaking", True, None, backfill, (*notes, *_backfill_note(backfill)))

    def _data_readers(self, label: Any) -> list[Any]:
        """The models whose data reads ``label``: a model whose tests only read it (check-only) is none of them."""
        graph = self.head.graph
        return sorted(
            (r for r in dict.fromkeys(graph.rdeps.get(label, ()))
             if self.head.states[r].target.kind == "dbt_model"
             and any(e.target == label and not e.is_check_only for e in graph.deps[r])),
            key=str,
        )

    def _backfill(self, label: Any) -> tuple[str, str] | None:
        if model_config(self.head, label).get("materialized") != "incremental":
            return None
        config = model_config(self.head, label)
        start = str(config.get("start") or self.variables.get("backfill_start") or "earliest")
        end = str(self.variables.get("backfill_end") or datetime.date.today().isoformat())
        return (start, end)


def _worded(column: str, text: str, changes: ColumnChanges) -> str:
    """A lost column's change, saying why a reader of it is affected when the name alone does not."""
    return f"{text} (its values change)" if column in changes.reexpressed else text


def _yml_type(spec: Any) -> dict[str, Any]:
    spec = spec if isinstance(spec, Mapping) else {}
    return {k: spec[k] for k in ("data_type", "constraints") if k in spec}


def _tests_of(columns: Mapping[str, Any]) -> dict[str, Any]:
    found = {n: {k: v for k, v in s.items() if k in ("data_tests", "tests")} for n, s in columns.items() if isinstance(s, Mapping)}
    return {n: tests for n, tests in found.items() if tests}


def _mentions(text: str, kind: str, name: str) -> bool:
    if kind == "dbt_source":
        source, _, table = name.partition(".")
        return re.search(rf"""source\(\s*['"]{re.escape(source)}['"]\s*,\s*['"]{re.escape(table)}['"]""", text) is not None
    return re.search(rf"""ref\(\s*['"]{re.escape(name)}['"]""", text) is not None


def _backfill_note(backfill: tuple[str, str] | None) -> tuple[str, ...]:
    return () if backfill is None else (f"backfill {backfill[0]}..{backfill[1]}",)


def model_config(revision: Any, label: Any) -> dict[str, Any]:
    """A model's config: dbt_project.yml folder defaults under its own (``+materialized`` and the like)."""
    state = revision.states[label]
    target = state.target
    own = dict(state.digest.data.get("config") or {})
    if target.kind == "dbt_seed":
        return {"materialized": "seed", **own}
    project = next((revision.states[e.target] for e in revision.graph.deps[label]
                    if revision.states[e.target].target.kind == "dbt_project"), None)
    settings = ((project.digest.data.get("project setting") or {}).get("dbt_project.yml") or {}) if project else {}
    merged: dict[str, Any] = {}
    node = (settings.get("models") or {}).get(settings.get("name", ""), {})
    path = str(target.attributes.get("path", ""))
    roots = settings.get("model-paths") or ["models"]
    folders = next((path[len(r) + 1 :].split("/")[:-1] for r in roots if path.startswith(str(r).rstrip("/") + "/")), [])
    for folder in [None, *folders]:
        if folder is not None:
            node = node.get(folder) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping):
            break
        merged.update({k[1:]: v for k, v in node.items() if k.startswith("+")})
        if "materialized" in node and not isinstance(node["materialized"], Mapping):
            merged["materialized"] = node["materialized"]
    merged.update(own)
    merged.setdefault("materialized", "view")
    return merged


def classify(
    label: Any, head: Any, base: Any | None, *, variables: Mapping[str, Any], read: SourceReader | None,
    memo: MutableMapping[Any, Any] | None = None,
) -> Classification:
    """Classify one ``dbt_model`` or ``dbt_seed`` between ``base`` (None: first deploy) and ``head``.

    ``read(fingerprinted, path, blob_id)`` returns a model file's content at that revision (or None);
    without it, every SQL change is taken as breaking. ``memo`` is the plan's own memo
    (``DeployPlanContext.memo``): the calls of one plan share one classifier there, so each model is
    classified once per plan. Without it, a call classifies afresh and keeps nothing.
    """
    return _classifier(memo, head, base, variables, read).classify(label)


_MEMO_KEY = (__name__, "classifier")


def _classifier(
    memo: MutableMapping[Any, Any] | None, head: Any, base: Any | None, variables: Mapping[str, Any], read: SourceReader | None
) -> _Classifier:
    """The plan's classifier for these revisions (made on the plan's first call), or a new one without a memo."""
    if memo is None:
        return _Classifier(head, base, variables, read)
    found = memo.get(_MEMO_KEY)
    if not (isinstance(found, _Classifier) and found.head is head and found.base is base
            and found.read is read and found.variables == variables):
        found = memo[_MEMO_KEY] = _Classifier(head, base, variables, read)
    return found
