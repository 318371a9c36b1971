"""``kafka_topic`` on the local backend: the file-backed schema registry and its compatibility enforcement."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.errors import DeployError, FencingError
from graphbuild.plan.definition import Phase, Reversibility
from graphbuild.testing.handlers import fenced_out
from tests.rules.deploy.steps import platform as shared_platform
from tests.rules.deploy.steps import REPO_ROOT, Store, bind, deploy_context, plan_context, run, steps_of, tree

LABEL = "//kafka/topics:payments.transactions.v1"
FOLDER = "kafka/topics/payments.transactions.v1"
SUBJECT = "payments.transactions.v1-value"


@pytest.fixture(scope="module")
def platform() -> tuple[Any, Any]:
    return shared_platform()


def _spec(platform: tuple[Any, Any], label: str = LABEL) -> Any:
    session, head = platform
    (spec,) = steps_of(session, label, plan_context(head))
    return spec


def _schema() -> dict[str, Any]:
    return json.loads((REPO_ROOT / FOLDER / "schema.avsc").read_text())


def _with_field(field: dict[str, Any]) -> bytes:
    schema = _schema()
    schema["fields"].append(field)
    return json.dumps(schema, indent=2).encode()


def test_the_register_step_and_its_rollout_note(platform: tuple[Any, Any]) -> None:
    spec = _spec(platform)
    assert (spec.name, spec.phase, spec.reversibility) == ("register", Phase.SCHEMAS, Reversibility.FORWARD_ONLY)
    assert spec.request["compatibility"] == "BACKWARD_TRANSITIVE"
    assert list(spec.request["versions"]) == [f"{FOLDER}/versions/{n}.avsc" for n in (1, 2, 3)]
    (note,) = spec.notes
    assert note.startswith("payments.transactions.v1: BACKWARD_TRANSITIVE: upgrade consumers first (")
    assert "//spark/jobs/payments_stream_ingest:payments_stream_ingest" in note
    forward = _spec(platform, "//kafka/topics:fraud.signals.v1")
    assert "FORWARD: upgrade producers first" in forward.notes[0]
    full = _spec(platform, "//kafka/topics:cards.authorizations.v1")
    assert "any order" in full.notes[0]


def test_the_first_registration_mirrors_the_history_then_is_idempotent(platform: tuple[Any, Any], tmp_path: Path) -> None:
    store = Store()
    ctx = deploy_context(tmp_path, store)
    step = bind(_spec(platform), LABEL, "v1", REPO_ROOT, store)
    run(step, ctx)
    subject = tmp_path / "registry" / SUBJECT
    registered = sorted(p.name for p in (subject / "versions").iterdir())
    history = sorted((REPO_ROOT / FOLDER / "versions").iterdir())
    for path in history:
        assert (subject / "versions" / path.name).read_bytes() == path.read_bytes()
    current_is_latest = json.loads(history[-1].read_text()) == _schema()
    assert len(registered) == len(history) + (0 if current_is_latest else 1)
    config = json.loads((subject / "config.json").read_text())
    assert config["compatibility"] == "BACKWARD_TRANSITIVE"
    assert (config["partitions"], config["retention_ms"], config["deleted"]) == (48, 604800000, False)

    before = tree(tmp_path)
    assert "already registered" in run(step, ctx)
    assert tree(tmp_path) == before
    # a rollback re-applies an earlier version's step: already registered, nothing moves
    old = bind(_spec(platform), LABEL, "v0", REPO_ROOT, store,
               overrides={f"{FOLDER}/schema.avsc": (REPO_ROOT / FOLDER / "versions/2.avsc").read_bytes()})
    assert "already registered as version 2" in run(old, ctx)
    assert tree(tmp_path) == before


def test_a_compatible_change_registers_the_next_version(platform: tuple[Any, Any], tmp_path: Path) -> None:
    store = Store()
    ctx = deploy_context(tmp_path, store)
    run(bind(_spec(platform), LABEL, "v1", REPO_ROOT, store), ctx)
    versions = tmp_path / "registry" / SUBJECT / "versions"
    count = len(list(versions.iterdir()))
    added = _with_field({"name": "fee_note", "type": ["null", "string"], "default": None})
    run(bind(_spec(platform), LABEL, "v2", REPO_ROOT, store, overrides={f"{FOLDER}/schema.avsc": added}), ctx)
    assert (versions / f"{count + 1}.avsc").read_bytes() == added
    # the same schema with other whitespace and docs is the same canonical form: a no-op
    same = json.loads(added)
    same["doc"] = "reworded"
    again = bind(_spec(platform), LABEL, "v3", REPO_ROOT, store, overrides={f"{FOLDER}/schema.avsc": json.dumps(same).encode()})
    assert f"already registered as version {count + 1}" in run(again, ctx)


def test_an_incompatible_change_is_refused_and_changes_nothing(platform: tuple[Any, Any], tmp_path: Path) -> None:
    store = Store()
    ctx = deploy_context(tmp_path, store)
    run(bind(_spec(platform), LABEL, "v1", REPO_ROOT, store), ctx)
    before = tree(tmp_path)
    breaking = _with_field({"name": "fee_note", "type": "string"})  # no default: old data cannot be read
    step = bind(_spec(platform), LABEL, "v2", REPO_ROOT, store, overrides={f"{FOLDER}/schema.avsc": breaking})
    with pytest.raises(DeployError) as caught:
        run(step, ctx)
    message = str(caught.value)
    assert message.startswith(f"{FOLDER}/schema.avsc: {SUBJECT}: the schema is not BACKWARD_TRANSITIVE-compatible")
    assert "fee_note" in message and "fix:" in message
    assert tree(tmp_path) == before


def test_retire_soft_deletes_the_subject(platform: tuple[Any, Any], tmp_path: Path) -> None:
    store = Store()
    ctx = deploy_context(tmp_path, store)
    run(bind(_spec(platform), LABEL, "v1", REPO_ROOT, store), ctx)
    versions = sorted(p for p in tree(tmp_path) if "/versions/" in p)
    retire = bind(_spec(platform), LABEL, "v1", REPO_ROOT, store, operation="retire")
    run(retire, ctx)
    assert "already deleted" in run(retire, ctx)
    assert json.loads((tmp_path / "registry" / SUBJECT / "config.json").read_text())["deleted"] is True
    assert sorted(p for p in tree(tmp_path) if "/versions/" in p) == versions


def test_an_unknown_backend_is_refused_at_plan_time(platform: tuple[Any, Any]) -> None:
    session, head = platform
    with pytest.raises(DeployError, match=r"no deploy backend 'confluent' \(it has: local, glue\)"):
        steps_of(session, LABEL, plan_context(head, backend="confluent"))


_FIELD_TYPES = st.sampled_from(["string", "long", "int", "double", "boolean"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(_FIELD_TYPES, st.booleans()), min_size=1, max_size=4))
def test_a_registration_adds_one_version_or_fails_leaving_the_registry_as_it_was(
    platform: tuple[Any, Any], tmp_path_factory: Any, changes: list[tuple[str, bool]]
) -> None:
    """Adding fields one change at a time: a field with a default registers a version, one without is refused."""
    backend = tmp_path_factory.mktemp("env")
    store = Store()
    ctx = deploy_context(backend, store)
    run(bind(_spec(platform), LABEL, "v0", REPO_ROOT, store), ctx)
    schema = _schema()
    for index, (kind, has_default) in enumerate(changes):
        field: dict[str, Any] = {"name": f"extra_{index}", "type": ["null", kind]}
        if has_default:
            field["default"] = None
        candidate = {**schema, "fields": [*schema["fields"], field]}
        step = bind(_spec(platform), LABEL, f"v{index + 1}", REPO_ROOT, store,
                    overrides={f"{FOLDER}/schema.avsc": json.dumps(candidate).encode()})
        before = tree(backend)
        count = sum(1 for p in before if "/versions/" in p)
        if has_default:
            run(step, ctx)
            assert sum(1 for p in tree(backend) if "/versions/" in p) == count + 1
            schema = candidate
        else:
            with pytest.raises(DeployError):
                run(step, ctx)
            assert tree(backend) == before


def test_a_fenced_out_deploy_registers_nothing(platform: tuple[Any, Any], tmp_path: Path) -> None:
    """Drill: a deploy whose lease was taken over cannot write the registry (first mirror or a new version)."""
    store = Store()
    ctx = deploy_context(tmp_path / "backend", store)
    v1 = bind(_spec(platform), LABEL, "v1", REPO_ROOT, store)
    with pytest.raises(FencingError):
        run(v1, fenced_out(ctx, tmp_path / "state-first"))
    assert not (tmp_path / "backend" / "registry").exists()
    run(v1, ctx)
    before = tree(tmp_path / "backend")
    v2 = bind(_spec(platform), LABEL, "v2", REPO_ROOT, store,
              overrides={f"{FOLDER}/schema.avsc": _with_field({"name": "fenced", "type": "string", "default": ""})})
    with pytest.raises(FencingError):
        run(v2, fenced_out(ctx, tmp_path / "state"))
    assert tree(tmp_path / "backend") == before


def test_only_the_registry_writes_run_fenced(platform: tuple[Any, Any], tmp_path: Path) -> None:
    """The fenced block holds the lease's lock (the heartbeat waits on it): the first registration reads
    and checks the whole history first, then writes it, the new version and the config in one fenced block."""
    store = Store()
    ctx = deploy_context(tmp_path, store)
    fences: list[str] = []
    reads: list[bool] = []  # per blob read: inside a fenced block?

    @contextmanager
    def fenced(step: Any) -> Iterator[None]:
        fences.append(step.id)
        yield
        fences.append("")

    def read_blob(digest: str) -> bytes:
        reads.append(len(fences) % 2 == 1)
        return store.read(digest)

    v1 = bind(_spec(platform), LABEL, "v1", REPO_ROOT, store)
    assert "after importing" in run(v1, replace(ctx, fenced=fenced, read_blob=read_blob))
    assert len(fences) == 2 and reads and not any(reads)
    assert len(list((tmp_path / "registry" / SUBJECT / "versions").iterdir())) >= len(v1.request["versions"])
