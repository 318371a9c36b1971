"""The ``kafka_topic`` check (rules/checks/kafka.py) and ``graphbuild schema compat``.

Requests come from the Kafka rule's own ``actions``: for the real platform through the graph, for
broken topics from targets over topic folders written under tmp_path. Each compatibility mode gets a
change it must reject, through the handler and through the command.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.labels import Label
from graphbuild.rule import RuleContext, Target
from graphbuild.run.action import HandlerContext
from graphbuild.session import Session
from graphbuild.values import freeze, thaw
from rules.checks import kafka as kafka_checks
from rules.checks.kafka import SchemaFileError, check_topics, load_schema, schema_compat_main
from rules.kafka import rule

REPO_ROOT = Path(__file__).resolve().parents[3]
TOPIC = "payments.authorizations.v1"
FOLDER = f"kafka/topics/{TOPIC}"


def payment(*extra: dict[str, Any], drop: tuple[str, ...] = (), scale: int = 2) -> dict[str, Any]:
    fields = [
        {"name": "transaction_id", "type": "string", "doc": "Payments-core transaction id."},
        {"name": "customer_id", "type": "string"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": scale}},
        {"name": "currency", "type": "string"},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["PENDING", "CAPTURED", "DECLINED"]}},
    ]
    return {
        "type": "record",
        "name": "Payment",
        "namespace": "com.finsight.payments",
        "fields": [f for f in fields if f["name"] not in drop] + list(extra),
    }


V1 = payment({"name": "channel", "type": "int", "default": 0})
V2 = payment()
V3 = payment({"name": "channel", "type": "string", "default": "web"})  # reads v2, not v1 (int to string)

# mode -> (registered versions, new schema, the paths its failure must name)
BREAKING = {
    "BACKWARD": ([V2], payment({"name": "merchant_id", "type": "string"}), ["/fields/merchant_id"]),
    "FORWARD": ([V2], payment(drop=("customer_id",)), ["/fields/customer_id"]),
    "FULL": ([V2], payment(scale=4), ["/fields/amount/type/scale", "/fields/amount/type/scale"]),
    "BACKWARD_TRANSITIVE": ([V1, V2], V3, ["/fields/channel/type"]),
    "FORWARD_TRANSITIVE": ([V1, V2], V3, ["/fields/channel/type"]),
    "FULL_TRANSITIVE": ([V1, V2], V3, ["/fields/channel/type", "/fields/channel/type"]),
}


class Ctx:
    """What ``actions`` reads of a rule context."""

    def __init__(self, **settings: Any) -> None:
        self.rule_settings = freeze(settings)


def dump(schema: Any) -> str:
    return json.dumps(schema, indent=2) + "\n"


def write_topic(root: Path, versions: list[Any], schema: Any, mode: str | None = "BACKWARD",
                files: dict[str, str] | None = None) -> None:
    folder = root / FOLDER
    (folder / "versions").mkdir(parents=True, exist_ok=True)
    for i, version in enumerate(versions, 1):
        (folder / "versions" / f"{i}.avsc").write_text(version if isinstance(version, str) else dump(version))
    (folder / "schema.avsc").write_text(schema if isinstance(schema, str) else dump(schema))
    setting = f'compatibility = "{mode}"\n' if mode else ""
    (folder / "topic.toml").write_text(f'description = "Card payment authorizations."\npartitions = 12\n{setting}')
    for rel, text in (files or {}).items():
        (folder / rel).write_text(text)


def request_for(root: Path, **settings: Any) -> dict[str, Any]:
    sources = tuple(sorted(p.relative_to(root).as_posix() for p in (root / FOLDER).rglob("*") if p.is_file()))
    target = Target(Label("kafka/topics", TOPIC), "kafka_topic", "kafka", sources, attributes=freeze({"topic": TOPIC}))
    (action,) = rule.actions(target, Ctx(**settings))
    return thaw(action.request)


def check(root: Path, tmp_path: Path, **settings: Any) -> dict[str, Any]:
    (outcome,) = check_topics([request_for(root, **settings)], HandlerContext(root, tmp_path / "scratch"))
    return outcome


def line_of(root: Path, rel: str, needle: str) -> int:
    lines = (root / FOLDER / rel).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


# ---------------------------------------------------------------------------------------------- the platform


@pytest.fixture(scope="module")
def platform_actions() -> list[Any]:
    with Session.open(REPO_ROOT, use_cache=False) as session:
        settings = session.workspace.settings
        ctx = RuleContext(session.snapshot(), settings, settings.rule_settings("kafka"))
        targets = [t for t in session.graph().targets.values() if t.kind == "kafka_topic"]
        return [a for t in targets for a in rule.actions(t, ctx)]


def test_each_topic_gets_one_avro_compat_action(platform_actions: list[Any]) -> None:
    assert len(platform_actions) == 8
    for action in platform_actions:
        assert (action.name, action.handler, action.pool) == ("avro-compat", "rules.checks.kafka:check_topics", "default")
        assert action.toolchain == ("python", "dist:fastavro") and action.batch == "kafka:avro-compat"
    payments = next(a for a in platform_actions if a.label.name == "payments.transactions.v1")
    request = thaw(payments.request)
    assert request["schema"] == "kafka/topics/payments.transactions.v1/schema.avsc"
    assert request["config"] == "kafka/topics/payments.transactions.v1/topic.toml"
    assert request["versions"] == [f"kafka/topics/payments.transactions.v1/versions/{n}.avsc" for n in (1, 2, 3)]


def test_the_eight_platform_topics_pass(platform_actions: list[Any], tmp_path: Path) -> None:
    outcomes = check_topics([thaw(a.request) for a in platform_actions], HandlerContext(REPO_ROOT, tmp_path))
    assert [o["status"] for o in outcomes] == ["passed"] * 8, [o["summary"] for o in outcomes if o["status"] != "passed"]
    by_topic = {a.label.name: o for a, o in zip(platform_actions, outcomes)}
    assert "BACKWARD_TRANSITIVE compatible across 3 versions" in by_topic["payments.transactions.v1"]["summary"]
    assert "FULL compatible across 3 versions (4 reader/writer pairs" in by_topic["cards.authorizations.v1"]["summary"]
    assert "only registered version" in by_topic["ledger.entries.v1"]["summary"]
    log = by_topic["payments.transactions.v1"]["log"]
    assert "versions/3.avsc reading versions/1.avsc: resolves; round trip of" in log
    report = json.loads(Path(by_topic["payments.transactions.v1"]["artifacts"]["compatibility report"]).read_text())
    assert report["mode"] == "BACKWARD_TRANSITIVE" and len(report["steps"]) == 2


def test_versions_are_ordered_by_number_and_stray_files_named(tmp_path: Path) -> None:
    write_topic(tmp_path, [V2] * 11, V2, files={"versions/latest.avsc": dump(V2)})
    request = request_for(tmp_path, default_compatibility="FULL", max_records=32)
    assert [Path(p).stem for p in request["versions"]] == [str(n) for n in range(1, 12)]
    assert request["unexpected"] == [f"{FOLDER}/versions/latest.avsc"]
    assert (request["default_compatibility"], request["max_records"]) == ("FULL", 32)
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed"
    assert outcome["summary"] == f"{FOLDER}/versions/latest.avsc: registered versions must be named versions/<number>.avsc"


# ---------------------------------------------------------------------------------------------- modes


@pytest.mark.parametrize("mode", sorted(BREAKING))
def test_each_mode_fails_on_its_incompatible_change(mode: str, tmp_path: Path) -> None:
    registered, new, paths = BREAKING[mode]
    write_topic(tmp_path, registered, new, mode)
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed", outcome["summary"]
    summary = outcome["summary"]
    assert re.match(rf"{re.escape(FOLDER)}/(schema|versions/\d)\.avsc:\d+: not {mode} compatible", summary), summary
    for path in paths:
        assert path in summary
    assert outcome["log"].count("INCOMPATIBLE ") == len(paths)


@pytest.mark.parametrize("mode", ["BACKWARD", "FORWARD", "FULL"])
def test_non_transitive_modes_accept_what_only_breaks_an_older_version(mode: str, tmp_path: Path) -> None:
    write_topic(tmp_path, [V1, V2], V3, mode)
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "passed", outcome["summary"]
    assert f"{mode} compatible across 3 versions" in outcome["summary"]


def test_mode_none_accepts_any_change(tmp_path: Path) -> None:
    write_topic(tmp_path, [V2], payment({"name": "customer_id", "type": "long"}, drop=("customer_id",)), "NONE")
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "passed" and "compatibility NONE requires nothing" in outcome["summary"]


def test_a_missing_mode_uses_the_default_setting(tmp_path: Path) -> None:
    write_topic(tmp_path, [V2], payment(drop=("customer_id",)), mode=None)
    assert check(tmp_path, tmp_path)["status"] == "passed"  # BACKWARD: dropping a field is fine
    outcome = check(tmp_path, tmp_path, default_compatibility="FORWARD")
    assert outcome["status"] == "failed" and "/fields/customer_id" in outcome["summary"]


def test_a_decimal_scale_change_fails_although_fastavro_decodes_it(tmp_path: Path) -> None:
    write_topic(tmp_path, [V2], payment(scale=3), "BACKWARD")
    outcome = check(tmp_path, tmp_path)
    line = line_of(tmp_path, "schema.avsc", '"scale"')
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(f"{FOLDER}/schema.avsc:{line}: not BACKWARD compatible (1 incompatibility; "
                                         "first: decimal scale changed from 2 (writer) to 3 (reader))")
    assert "schema.avsc reading versions/1.avsc at /fields/amount/type/scale" in outcome["summary"]
    assert "does not resolve; round trip of" in outcome["log"] and "fastavro read them all" in outcome["log"]


def with_status(*symbols: str, default: str | None = None) -> dict[str, Any]:
    schema = payment()
    schema["fields"][4]["type"]["symbols"] = list(symbols)
    if default:
        schema["fields"][4]["type"]["default"] = default
    return schema


def test_an_enum_symbol_needs_a_reader_default_under_forward(tmp_path: Path) -> None:
    write_topic(tmp_path, [V2], with_status("PENDING", "CAPTURED", "DECLINED", "REFUNDED"), "FORWARD")
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed"
    assert "versions/1.avsc reading schema.avsc at /fields/status/type/symbols" in outcome["summary"]
    assert "fastavro failed: record" in outcome["log"] and "REFUNDED not found" in outcome["log"]
    # consumers whose enum has a default read a symbol they do not know as the default
    old = with_status("PENDING", "CAPTURED", "DECLINED", "OTHER", default="OTHER")
    write_topic(tmp_path, [old], with_status("PENDING", "CAPTURED", "DECLINED", "OTHER", "REFUNDED"), "FORWARD")
    assert check(tmp_path, tmp_path)["status"] == "passed"


def test_the_registered_history_is_checked_too(tmp_path: Path) -> None:
    broken_v2 = payment({"name": "merchant_id", "type": "string"})  # registered v2 cannot read v1
    write_topic(tmp_path, [V2, broken_v2], broken_v2, "BACKWARD")
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(f"{FOLDER}/versions/2.avsc:")
    assert "versions/2.avsc reading versions/1.avsc at /fields/merchant_id" in outcome["summary"]


def test_a_first_version_passes_with_the_reason(tmp_path: Path) -> None:
    write_topic(tmp_path, [], V2)
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "passed" and "no version is registered yet" in outcome["summary"]


def test_a_resolvable_verdict_is_backed_by_the_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A checker that wrongly said "compatible" is caught by fastavro failing the read.
    write_topic(tmp_path, [V2], payment({"name": "merchant_id", "type": "string"}), "BACKWARD")
    monkeypatch.setattr(kafka_checks.avro_compat, "incompatibilities", lambda *a, **k: [])
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(f"{FOLDER}/schema.avsc: reads versions/1.avsc by the resolution rules, "
                                         "but fastavro failed: record 1 of")
    assert "No default value for field merchant_id" in outcome["summary"]


# ---------------------------------------------------------------------------------------------- broken inputs


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ('{"type": "record",\n "name": "Payment"\n "fields": []}\n', r"schema\.avsc:3:2: invalid JSON: Expecting ',' delimiter"),
        (dump(payment({"name": "merchant", "type": "Merchant"})),
         r"schema\.avsc:\d+: invalid Avro schema at /fields/merchant/type: unknown type 'Merchant'"),
        (dump(payment({"name": "fee", "type": ["null", "string"], "default": 5})),
         r"schema\.avsc: invalid Avro schema \(fastavro\): SchemaParseException: Default value <5> must match"),
        (dump(payment({"name": "fee", "type": ["null", []], "default": None})),
         r"schema\.avsc:\d+: invalid Avro schema at /fields/fee/type/1: an empty union \[\] has no value .* give it a branch"),
        ('{"type": "record", "name": "Node", "fields": [{"name": "next", "type": "Node"}]}',
         r"schema\.avsc: record Node nests without end"),
    ],
    ids=["json", "avro", "fastavro", "empty union", "endless recursion"],
)
def test_an_invalid_schema_fails_naming_the_file(schema: str, expected: str, tmp_path: Path) -> None:
    write_topic(tmp_path, [V2], schema)
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed"
    assert re.match(rf"{re.escape(FOLDER)}/{expected}", outcome["summary"]), outcome["summary"]


def test_an_unknown_mode_fails_naming_the_setting_line(tmp_path: Path) -> None:
    write_topic(tmp_path, [V2], V2, "SIDEWAYS")
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(f"{FOLDER}/topic.toml:3: compatibility 'SIDEWAYS' is not one of BACKWARD,")
    (tmp_path / FOLDER / "topic.toml").write_text("partitions = = 12\n")
    assert check(tmp_path, tmp_path)["summary"].startswith(f"{FOLDER}/topic.toml: invalid TOML: ")


# ---------------------------------------------------------------------------------------------- the command


def write(tmp_path: Path, name: str, schema: Any) -> str:
    path = tmp_path / name
    path.write_text(schema if isinstance(schema, str) else dump(schema))
    return str(path)


def test_command_exit_0_when_compatible(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = write(tmp_path, "old.avsc", V2), write(tmp_path, "new.avsc", payment(drop=("customer_id",)))
    assert schema_compat_main([old, new]) == 0
    assert capsys.readouterr().out == f"{new} is BACKWARD compatible with {old} (1 round trip)\n"


def test_command_names_each_incompatibility_by_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = write(tmp_path, "old.avsc", V2), write(tmp_path, "new.avsc", payment(scale=3))
    assert schema_compat_main([old, new, "--mode", "full"]) == 1
    out = capsys.readouterr().out.splitlines()
    line = next(i for i, t in enumerate(Path(new).read_text().splitlines(), 1) if '"scale"' in t)
    assert out == [
        f"{new}:{line}: /fields/amount/type/scale: decimal scale changed from 2 (writer) to 3 (reader) ({new} reading {old})",
        f"{old}:{line}: /fields/amount/type/scale: decimal scale changed from 3 (writer) to 2 (reader) ({old} reading {new})",
        f"{new} is not FULL compatible with {old}: 2 problems",
    ]


@pytest.mark.parametrize("mode", sorted(BREAKING))
def test_command_rejects_each_modes_incompatible_change(mode: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registered, new, paths = BREAKING[mode]
    olds = [write(tmp_path, f"{i}.avsc", s) for i, s in enumerate(registered, 1)]
    assert schema_compat_main([*olds, write(tmp_path, "new.avsc", new), "--mode", mode]) == 1
    out = capsys.readouterr().out
    assert [re.search(r": (/\S*): ", line).group(1) for line in out.splitlines()[:-1]] == paths
    if mode != "FULL":  # one version back the transitive changes are fine
        assert schema_compat_main([olds[-1], str(tmp_path / "new.avsc"), "--mode", mode.removesuffix("_TRANSITIVE")]) \
            == (1 if mode in ("BACKWARD", "FORWARD") else 0)


def test_graphbuild_schema_compat_is_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from graphbuild.cli.main import main

    (command,) = rule.commands()
    assert command.name == "schema compat"
    old, new = write(tmp_path, "old.avsc", V2), write(tmp_path, "new.avsc", payment(scale=3))
    assert main(["schema", "compat", old, new, "--mode", "FORWARD"]) == 1
    assert f"{old}:" in capsys.readouterr().out
    assert main(["schema", "compat", old, str(tmp_path / "missing.avsc")]) == 2


def test_command_json_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = write(tmp_path, "old.avsc", V2), write(tmp_path, "new.avsc", payment({"name": "merchant_id", "type": "string"}))
    assert schema_compat_main([old, new, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["compatible"] is False and report["mode"] == "BACKWARD"
    (problem,) = report["incompatibilities"]
    assert (problem["path"], problem["reader"], problem["writer"]) == ("/fields/merchant_id", new, old)
    assert report["round_trips"][0]["error"].startswith("record 1 of")


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the schema"), ("{", "1:2: invalid JSON"), ('{"type": "recrd"}', "invalid Avro schema at /type"),
     (b"\xff\xfe", "not UTF-8 text")],
)
def test_command_exit_2_on_an_unreadable_schema(content: Any, message: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.avsc"
    if isinstance(content, bytes):
        bad.write_bytes(content)
    elif content is not None:
        bad.write_text(content)
    assert schema_compat_main([write(tmp_path, "old.avsc", V2), str(bad)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"graphbuild schema compat: error: {bad}") and message in captured.err
    assert captured.err.count("\n") == 1


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(
                        st.sampled_from(["type", "name", "fields", "items", "values", "symbols", "size", "default",
                                         "logicalType", "namespace", "aliases"]) | st.text(max_size=4), children, max_size=5),
                    max_leaves=12)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(text=st.text(max_size=60) | JSON.map(json.dumps))
def test_fuzzed_files_fail_with_one_clear_line_or_load(text: str, tmp_path: Path) -> None:
    path = tmp_path / "fuzzed.avsc"
    path.write_text(text, encoding="utf-8")
    try:
        load_schema(path, "kafka/topics/fuzz.v1/schema.avsc")
    except SchemaFileError as exc:
        assert str(exc).startswith("kafka/topics/fuzz.v1/schema.avsc") and "\n" not in str(exc)


@FUZZ
@given(text=st.text(max_size=40) | JSON.map(json.dumps))
def test_fuzzed_command_input_never_crashes(text: str, tmp_path: Path) -> None:
    old, bad = write(tmp_path, "old.avsc", V2), tmp_path / "fuzzed.avsc"
    bad.write_text(text, encoding="utf-8")
    import contextlib
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = schema_compat_main([old, str(bad)])
    assert code in (0, 1, 2)
    if code == 2:
        assert err.getvalue().startswith(f"graphbuild schema compat: error: {bad}") and err.getvalue().count("\n") == 1


# ---------------------------------------------------------------------------------------------- bounds and bad input


def nested(levels: int) -> Any:
    """A record nesting ``levels`` records inside each other, an int at the bottom."""
    schema: Any = "int"
    for i in range(levels):
        schema = {"type": "record", "name": f"Level{i}", "fields": [{"name": "inner", "type": schema}]}
    return schema


def test_an_empty_union_is_a_clear_schema_error_not_a_crash(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `[]` as a field's type used to reach the record generator and die with ZeroDivisionError (exit 1).
    old = write(tmp_path, "old.avsc", V2)
    new = write(tmp_path, "new.avsc", payment({"name": "fee", "type": []}))
    assert schema_compat_main([old, new]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"graphbuild schema compat: error: {new}:") and err.count("\n") == 1
    assert "/fields/fee/type: an empty union [] has no value to write or read: give it a branch" in err
    write_topic(tmp_path, [V2], payment({"name": "fee", "type": []}))
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed" and "an empty union []" in outcome["summary"]
    assert "crashed" not in outcome["summary"]


def test_a_decimal_with_scale_over_precision_is_read_as_its_bytes(tmp_path: Path) -> None:
    # The spec: invalid logical type parameters make the logical type ignored, not the schema invalid.
    odd = {"name": "fee", "type": {"type": "bytes", "logicalType": "decimal", "precision": 2, "scale": 4}, "default": ""}
    write_topic(tmp_path, [V2], payment(odd), "FULL")
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "passed", outcome["summary"]
    write_topic(tmp_path, [payment({**odd, "type": "bytes"})], payment(odd), "FULL_TRANSITIVE")
    assert check(tmp_path, tmp_path)["status"] == "passed"


@pytest.mark.parametrize(
    "annotated",
    [{"type": "string", "logicalType": "uuid"}, {"type": "int", "logicalType": "date"},
     {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}],
    ids=["uuid", "date", "decimal"],
)
def test_dropping_or_adding_a_logical_annotation_is_full_compatible(annotated: dict[str, Any], tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    with_it = write(tmp_path, "with.avsc", payment({"name": "extra", "type": annotated}))
    without = write(tmp_path, "without.avsc", payment({"name": "extra", "type": annotated["type"]}))
    assert schema_compat_main([with_it, without, "--mode", "FULL"]) == 0, capsys.readouterr().out
    assert schema_compat_main([without, with_it, "--mode", "FULL"]) == 0, capsys.readouterr().out


def test_a_schema_nested_200_levels_fails_with_the_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = write(tmp_path, "deep.avsc", nested(200))
    assert schema_compat_main([write(tmp_path, "old.avsc", nested(3)), deep]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"graphbuild schema compat: error: {deep}:") and err.count("\n") == 1
    assert "the schema nests types more than 100 levels deep, the limit: flatten it" in err and len(err) < 400
    write_topic(tmp_path, [], nested(200))
    outcome = check(tmp_path, tmp_path)
    assert outcome["status"] == "failed" and "more than 100 levels deep" in outcome["summary"]
    write_topic(tmp_path, [nested(100)], nested(100))  # at the limit: checked, and read back by fastavro
    assert check(tmp_path, tmp_path)["status"] == "passed"


def test_a_100k_field_schema_is_checked_in_seconds(tmp_path: Path) -> None:
    import time

    wide = {"type": "record", "name": "Wide", "fields": [{"name": f"f{i}", "type": "int"} for i in range(100_000)]}
    grown = {**wide, "fields": [*wide["fields"], {"name": "extra", "type": "long", "default": 0}]}
    old, new = write(tmp_path, "old.avsc", wide), write(tmp_path, "new.avsc", grown)
    start = time.perf_counter()
    assert schema_compat_main([old, new, "--mode", "FULL", "--format", "json"]) == 0
    assert time.perf_counter() - start < 30  # was 121 s (quadratic field checks); about 2 s here


def avro_types(depth: int = 3) -> st.SearchStrategy[Any]:
    """Schemas as a careless author writes them: valid shapes, empty unions, odd decimals, bad parts."""
    primitive = st.sampled_from(["null", "boolean", "int", "long", "float", "double", "bytes", "string", "Named"])
    logical = st.builds(lambda t, lt, p, s: {"type": t, "logicalType": lt, "precision": p, "scale": s},
                        st.sampled_from(["bytes", "int", "string", "long"]),
                        st.sampled_from(["decimal", "uuid", "date", "timestamp-millis", "nope"]),
                        st.integers(-2, 40) | st.none(), st.integers(-2, 40))
    names = iter(range(10**9))

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        field = st.builds(lambda n, t, d: {"name": n, "type": t, **d}, st.sampled_from(["a", "b", "c"]), children,
                          st.just({}) | st.fixed_dictionaries({"default": st.none() | st.integers() | st.text(max_size=2)}))
        return (
            st.lists(children, max_size=3)
            | st.builds(lambda fs: {"type": "record", "name": f"R{next(names)}", "fields": fs}, st.lists(field, max_size=3))
            | st.builds(lambda i: {"type": "array", "items": i}, children)
            | st.builds(lambda v: {"type": "map", "values": v}, children)
            | st.builds(lambda s: {"type": "enum", "name": f"E{next(names)}", "symbols": s},
                        st.lists(st.sampled_from(["A", "B", "C"]), max_size=3))
        )

    return st.recursive(primitive | logical, extend, max_leaves=12)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=avro_types(), new=avro_types(), mode=st.sampled_from(["BACKWARD", "FORWARD", "FULL"]))
def test_random_schemas_fail_only_with_graphbuild_errors(old: Any, new: Any, mode: str, tmp_path: Path) -> None:
    from graphbuild.errors import GraphbuildError
    from rules.checks.kafka import compare

    (tmp_path / "old.avsc").write_text(json.dumps(old))
    (tmp_path / "new.avsc").write_text(json.dumps(new))
    try:
        compare(mode, load_schema(tmp_path / "new.avsc", label="new"), [load_schema(tmp_path / "old.avsc", label="old")])
    except GraphbuildError as exc:
        assert "\n" not in str(exc)


def test_a_checker_crash_is_exit_3_never_read_as_incompatible(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    def crash(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("integer modulo by zero")

    monkeypatch.setattr(kafka_checks.avro_compat, "incompatibilities", crash)
    assert schema_compat_main([write(tmp_path, "old.avsc", V2), write(tmp_path, "new.avsc", V2)]) == 3
    err = capsys.readouterr().err
    assert err.startswith("graphbuild schema compat: internal error, no verdict: ZeroDivisionError") and err.count("\n") == 1


@pytest.mark.parametrize("where", ["before", "after"])
def test_a_checker_crash_through_the_cli_is_exit_3_and_debug_shows_its_traceback(
        where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Review item 10: an uncaught exception exits 1, the "incompatible" code, so the command keeps its own
    catch (exit 3); the traceback is not swallowed: ``--debug``, global (before) or the command's (after), shows it."""
    from graphbuild.cli.main import main

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("integer modulo by zero")

    monkeypatch.setattr(kafka_checks.avro_compat, "incompatibilities", crash)
    schemas = [write(tmp_path, "old.avsc", V2), write(tmp_path, "new.avsc", V2)]
    assert main(["schema", "compat", *schemas]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.rstrip().endswith("--debug shows the traceback)")
    argv = ["--debug", "schema", "compat", *schemas] if where == "before" else ["schema", "compat", *schemas, "--debug"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "in crash\n" in err
    assert err.splitlines()[-1].startswith("graphbuild schema compat: internal error, no verdict: ZeroDivisionError")


def test_global_flags_before_a_rule_command_go_on_to_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from graphbuild.cli.main import main

    old, new = write(tmp_path, "old.avsc", V2), write(tmp_path, "new.avsc", payment(scale=3))
    assert main(["--debug", "--format", "json", "schema", "compat", old, new, "--mode", "FORWARD"]) == 1
    assert json.loads(capsys.readouterr().out)["compatible"] is False
