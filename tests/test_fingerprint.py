"""Fingerprint and affected-set invariants, on generated graphs of fake targets."""

import json
import random
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import Field as PydanticField

from graphbuild.cache.definition import action_key
from graphbuild.changes import compare
from graphbuild.fingerprint import fingerprint_graph
from graphbuild.labels import Label
from graphbuild.rule import CHECKS_ONLY, Digest, RuleContext, RuleSettings
from graphbuild.testing import FakeRule, GitWorkspace, MemorySnapshot, Registry, Settings, build_graph
from graphbuild.workspace import Workspace
from tests.conftest import FIXTURES, affected

REGISTRY = Registry([FakeRule()])


@st.composite
def workspaces(draw):
    """A random DAG of fake targets: target i may require any j < i; each owns a text file."""
    n = draw(st.integers(min_value=1, max_value=9))
    files = {}
    for i in range(n):
        reqs = sorted(draw(st.sets(st.integers(min_value=0, max_value=max(i - 1, 0)), max_size=3))) if i else []
        requires = ", ".join(f'"s:{j}"' for j in reqs)
        files[f"p{i}/BUILD"] = f'fake_target(provides=["s:{i}"], requires=[{requires}], description="t{i}")\n'
        files[f"p{i}/a.txt"] = " ".join(draw(st.lists(st.sampled_from(["amount", "fee", "ts", "id"]), min_size=1, max_size=4)))
    return files


def fingerprints(files, order_seed=0):
    items = list(files.items())
    random.Random(order_seed).shuffle(items)
    snapshot = MemorySnapshot(dict(items))
    graph = build_graph(snapshot, Settings(), REGISTRY)
    return fingerprint_graph(graph, snapshot, Settings(), REGISTRY)


@given(workspaces(), st.integers(min_value=0, max_value=1000))
def test_fingerprints_do_not_depend_on_file_order(files, seed):
    first = fingerprints(files, 0)
    second = fingerprints(files, seed)
    assert {k: v.fingerprint for k, v in first.states.items()} == {k: v.fingerprint for k, v in second.states.items()}


@settings(max_examples=150)
@given(workspaces(), st.data())
def test_affected_is_exactly_the_changed_fingerprints_closed_under_dependents(files, data):
    base = fingerprints(files)
    head_files = dict(files)
    packages = sorted({p.split("/")[0] for p in files})
    real = data.draw(st.sets(st.sampled_from(packages), max_size=3))
    cosmetic = data.draw(st.sets(st.sampled_from(packages), max_size=3)) - real
    described = data.draw(st.sets(st.sampled_from(packages), max_size=2))
    for package in real:
        head_files[f"{package}/a.txt"] += " changed"
    for package in cosmetic:  # whitespace only: normalises away
        head_files[f"{package}/a.txt"] = "  " + head_files[f"{package}/a.txt"].replace(" ", "\n\t ") + "\n"
    for package in described:  # metadata only
        head_files[f"{package}/BUILD"] = head_files[f"{package}/BUILD"].replace('description="', 'description="new ')
    head = fingerprints(head_files)
    changes = compare(base, head)

    changed_fp = {label for label in head.states if head.states[label].fingerprint.data != base.states[label].fingerprint.data}
    assert set(changes.affected) == changed_fp
    direct = {label for label in head.states if label.package in real}
    assert set(changes.affected) == set(head.graph.transitive_rdeps(direct))
    for label in changes.affected:
        assert set(head.graph.rdeps[label]) <= set(changes.affected)
        reason = changes.reasons[label]
        assert reason.text()
        if label in direct:
            assert reason.kind == "changed" and reason.files == (f"{label.package}/a.txt",)
        else:
            assert reason.kind == "dependency" and reason.path[0] == label and reason.path[-1] in direct
    expected_metadata = {label for label in head.states if label.package in described} - set(changes.affected)
    assert set(changes.metadata_only) == expected_metadata


def test_fingerprints_are_identical_across_processes(mini):
    code = (
        "import json, sys\n"
        "from graphbuild.testing import GitWorkspace\n"
        "ws = GitWorkspace(sys.argv[1])\n"
        "with ws.session(use_cache=False) as s:\n"
        "    fp = s.fingerprinted()\n"
        "    print(json.dumps({str(k): [v.fingerprint.data, v.fingerprint.metadata] for k, v in fp.states.items()}))\n"
    )
    runs = []
    for seed in ("1", "2"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(mini.root)],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin", "HOME": str(mini.root)},
        )
        runs.append(json.loads(done.stdout))
    assert runs[0] == runs[1]
    assert len(runs[0]) > 20


# ---------------------------------------------------------------------------------------------------------------
# rule settings: a [rules.<name>] change re-fingerprints the targets of the rules that read it, and no other

MINI_RULES = ("airflow", "dbt", "kafka", "spark", "terraform", "python", "secrets")
SETTING_CHANGES = {  # rule -> valid values of its settings (the mini workspace stays a valid graph under each)
    "airflow": st.fixed_dictionaries({}, optional={
        "dags_folder": st.sampled_from(["dags", "dags/payments", "elsewhere"]),
        "policy": st.fixed_dictionaries({}, optional={"min_retries": st.integers(0, 3), "wall_clock": st.sampled_from(["error", "warn", "off"])}),
        "helpers": st.sampled_from([{}, {"dbt_task": {"select": "dbt:node:"}}, {"topic_sensor": {"topic": "topic:"}}]),
    }),
    "dbt": st.fixed_dictionaries({}, optional={
        "dialect": st.sampled_from(["duckdb", "snowflake", "postgres"]),
        "target": st.sampled_from(["dev", "ci"]),
        "threads": st.integers(1, 8),
        "timeout_s": st.floats(1, 900),
        "vars": st.dictionaries(st.sampled_from(["with_beta", "cutoff"]), st.booleans(), max_size=2),
    }),
    "kafka": st.fixed_dictionaries({}, optional={
        "default_compatibility": st.sampled_from(["BACKWARD", "FULL", "NONE"]),
        "max_records": st.integers(1, 500),
        "timeout_s": st.floats(1, 600),
    }),
    "spark": st.fixed_dictionaries({}, optional={
        "tests": st.sampled_from(["tests", "test"]),
        "master": st.sampled_from(["local[1]", "local[2]"]),
        "require_tests": st.booleans(),
        "test_timeout_s": st.floats(1, 900),
    }),
    "terraform": st.fixed_dictionaries({}, optional={
        "required_tags": st.lists(st.sampled_from(["Project", "Owner", "CostCenter"]), unique=True),
        "plugin_dirs": st.lists(st.sampled_from(["providers", ".terraform/plugins"]), unique=True),
    }),
    "python": st.fixed_dictionaries({}, optional={
        "source_roots": st.sampled_from([["dags", "spark/lib", "spark/jobs"], ["spark/lib", "spark/jobs", "dags"], [""]]),
    }),
    "secrets": st.fixed_dictionaries({}, optional={
        "entropy_threshold": st.floats(1, 6),
        "exclude": st.lists(st.sampled_from(["dbt/**", "*.md"]), unique=True),
    }),
}


@pytest.fixture(scope="module")
def mini_snapshot(tmp_path_factory):
    """The mini workspace's files, the installed rules and its own settings."""
    root = tmp_path_factory.mktemp("settings") / "mini"
    shutil.copytree(FIXTURES / "mini", root)
    files = {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
    return MemorySnapshot(files), Registry.from_entry_points(), Workspace.load(root).settings


def _with_rules(settings, rule, values):
    return Settings.model_validate({**settings.model_dump(), "rules": {**settings.rules, rule: values}})


def _fingerprinted(snapshot, settings, registry):
    return fingerprint_graph(build_graph(snapshot, settings, registry), snapshot, settings, registry)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_a_rules_settings_change_no_fingerprint_of_the_targets_of_rules_not_reading_them(mini_snapshot, data):
    snapshot, registry, base_settings = mini_snapshot
    rule = data.draw(st.sampled_from(MINI_RULES), label="rule")
    values = data.draw(SETTING_CHANGES[rule], label="settings")
    changed = _with_rules(base_settings, rule, values)
    registry.check_settings(changed)  # every drawn value is valid
    base = _fingerprinted(snapshot, base_settings, registry)
    head = _fingerprinted(snapshot, changed, registry)
    readers = {
        label
        for fingerprinted in (base, head)
        for label, target in fingerprinted.graph.targets.items()
        if rule in registry.settings_read_by(target.rule)
    }
    reached = base.graph.transitive_rdeps(readers) | head.graph.transitive_rdeps(readers)
    others = [label for label in base.graph.targets if label not in reached]
    assert others if rule != "python" else True
    for label in others:
        assert head.fingerprint(label) == base.fingerprint(label), (label, rule, values)
    if rule == "secrets":  # a cross-cutting check's settings reach only its actions' requests
        assert dict(head.fingerprints) == dict(base.fingerprints)


PYTHON_ROOTS = 'source_roots = ["dags", "spark/lib", "spark/jobs"]'


@pytest.mark.parametrize(
    ("old", "new", "rules"),
    [
        ("", '[rules.dbt]\ndialect = "snowflake"\n', {"dbt"}),
        ("", '[rules.dbt]\ndialect = "duckdb"\n', {"dbt"}),  # the default, spelled out: still the rule's input
        ("", '[rules.airflow.helpers]\ndbt_task = { select = "dbt:node:" }\n', {"airflow"}),
        ("", '[rules.kafka]\ndefault_compatibility = "FULL"\n', {"kafka"}),
        ("", '[rules.secrets]\nentropy_threshold = 5.0\n', set()),  # a cross-cutting check's: only its actions' keys
        ("", '[rules.terraform]\nrequired_tags = ["Owner"]\n', set()),  # read by actions only: in their keys
        ("", "[rules.airflow.policy]\nmin_retries = 3\n", set()),
        ("", "[rules.dbt]\ntimeout_s = 60\n", set()),
        (PYTHON_ROOTS, 'source_roots = ["spark/lib", "spark/jobs", "dags"]', {"python", "airflow", "spark"}),
    ],
)
def test_a_settings_change_affects_only_its_readers_targets_and_their_dependents(mini, old, new, rules):
    text = mini.read("graphbuild.toml")
    mini.write({"graphbuild.toml": text.replace(old, new, 1) if old else f"{text}\n{new}"})
    with mini.session(use_cache=False) as session:
        changes = session.changes("HEAD")
        owners = {label: target.rule for label, target in session.graph().targets.items()}
    direct = {label for label, reason in changes.reasons.items() if reason.kind == "changed"}
    assert direct == {label for label, rule in owners.items() if rule in rules}
    assert set(changes.affected) == set(session.graph().transitive_rdeps(direct))
    for label in direct:  # the settings, and what they change (the SQL body in another dialect)
        assert f"settings read by rule {owners[label]} changed (graphbuild.toml)" in changes.reasons[label].aspects
    assert affected(mini) == {str(label) for label in changes.affected}


@pytest.mark.parametrize(
    ("section", "label", "action"),
    [
        ('[rules.terraform]\nrequired_tags = ["Owner"]\n', "//terraform/modules/lake_bucket:lake_bucket", "static"),
        ("[rules.airflow.policy]\nmin_retries = 3\n", "//dags/payments:payments_daily", "dagbag"),
        ("[rules.secrets]\nexclude = ['dbt/**']\n", "//dbt:fct_payments", "secrets"),
    ],
)
def test_a_setting_only_checks_read_changes_their_cache_key_and_no_fingerprint(mini, section, label, action):
    def key():
        with mini.session(use_cache=False) as session:
            head = session.fingerprinted()
            target = head.graph.targets[Label.parse(label)]
            ctx = RuleContext(session.snapshot(), session.workspace.settings, session.workspace.settings.rule_settings(target.rule))
            (found,) = [a for a in session.registry.actions(target, ctx) if a.name == action]
            return action_key(found, head.fingerprint(target.label).data), dict(head.fingerprints)

    before, fingerprints = key()
    mini.write({"graphbuild.toml": mini.read("graphbuild.toml") + "\n" + section})
    after, changed = key()
    assert after != before
    assert changed == fingerprints


class _PeekSettings(RuleSettings):
    level: int = PydanticField(default=1, description="A data setting: in the fingerprints.")
    timeout_s: float = PydanticField(default=60.0, description="Read by actions only.", json_schema_extra=CHECKS_ONLY)


class _AuditSettings(RuleSettings):
    strict: bool = PydanticField(default=False, description="A cross-cutting check's own setting.")


class _Audit:
    """A cross-cutting check with settings, and no actions."""

    name, settings_model = "audit", _AuditSettings

    def actions(self, target, ctx):
        return ()


class _PeekingRule(FakeRule):
    """A fake rule whose expand and digest note the settings they can see that no fingerprint hashes."""

    settings_model, settings_read = _PeekSettings, ()

    def __init__(self):
        self.seen = []

    def _peek(self, ctx):
        self.seen.append((ctx.rule_settings.get("timeout_s"), dict(ctx.settings.rule_settings("audit"))))
        return {"level": ctx.rule_settings.get("level"), "timeout_s": ctx.rule_settings.get("timeout_s")}

    def expand(self, declaration, values, ctx):
        self._peek(ctx)
        return super().expand(declaration, values, ctx)

    def digest(self, target, ctx):
        return Digest.of({**super().digest(target, ctx).data, "settings": self._peek(ctx)})


def test_expand_and_digest_see_only_the_settings_the_fingerprints_hash(tmp_path):
    """A CHECKS_ONLY key (and a section the rule does not read) is absent from expand's and digest's context:
    never a value the digest memo would keep stale when only that key changes."""
    rule = _PeekingRule()
    registry = Registry([rule], [_Audit()])
    repo = GitWorkspace(tmp_path / "ws", "[rules.fake]\nlevel = 2\ntimeout_s = 5\n[rules.audit]\nstrict = true\n")
    repo.write({"a/BUILD": "fake_target()", "a/x.txt": "x"})
    base = repo.commit()
    repo.edit("graphbuild.toml", "timeout_s = 5", "timeout_s = 9")
    with repo.session(registry, use_cache=False) as session:
        changes = session.changes(base)
        digests = [session.fingerprinted(rev).states[Label.parse("//a:a")].digest for rev in (base, None)]
    assert rule.seen and set(map(repr, rule.seen)) == {repr((None, {}))}
    assert [d.data["settings"] for d in digests] == [{"level": 2, "timeout_s": None}] * 2
    assert not changes.affected
    repo.edit("graphbuild.toml", "level = 2", "level = 3")  # a data setting is seen, and affects
    with repo.session(registry, use_cache=False) as session:
        assert {str(label) for label in session.changes(base).affected} == {"//a:a"}
        assert session.fingerprinted().states[Label.parse("//a:a")].digest.data["settings"]["level"] == 3
