import importlib
import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphbuild.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_query_text_json_and_dot(mini, capsys):
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "kind(kafka_topic, //...)")
    assert (code, out) == (0, "//kafka/topics:payments.v1\n")
    code, out, _ = run(capsys, "-C", str(mini.root), "--format", "json", "query", "//kafka/...")
    assert json.loads(out)["targets"] == [{"label": "//kafka/topics:payments.v1", "kind": "kafka_topic"}]
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "--format", "dot", "deps(//dbt:stg_payments, 1)")
    assert out.startswith("digraph targets {") and '"//dbt:stg_payments" -> "//dbt:macros.money";' in out


def test_query_shell_style_functions(mini, capsys):
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "rdeps", "//dbt:dim_merchants")
    assert out.split() == ["//dags/payments:merchants_weekly", "//dbt:dim_merchants"]


def test_affected_and_why(mini, capsys):
    mini.edit("dbt/models/marts/fct_payments.sql", "    p.amount,\n", "    p.amount,\n    p.amount * 0.01 as fee_amount,\n")
    code, out, err = run(capsys, "-C", str(mini.root), "query", "affected", "--since", "HEAD")
    assert code == 0
    assert out.split() == ["//dags/payments:payments_daily", "//dbt:fct_payments", "//dbt:rpt_daily_volume"]
    assert "3 affected (1 directly)" in err
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "affected", "--since", "HEAD", "--format", "json")
    payload = json.loads(out)
    assert payload["head"] == "WORKTREE" and len(payload["base"]) == 40
    fct = next(a for a in payload["affected"] if a["label"] == "//dbt:fct_payments")
    assert fct["reason"]["kind"] == "changed" and "column added: fee_amount" in fct["reason"]["aspects"]
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "why", "//dags/payments:payments_daily", "--since", "HEAD")
    assert out.splitlines()[0] == (
        "//dags/payments:payments_daily: depends on a changed target: //dags/payments:payments_daily -> //dbt:fct_payments"
    )
    assert "column added: fee_amount" in out.splitlines()[1]
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "why", "//dbt:dim_merchants", "--since", "HEAD")
    assert "not affected" in out
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "affected", "--since", "HEAD", "--format", "markdown")
    assert out.startswith("| target | kind | why |")


def test_user_errors_print_one_line_and_exit_2(mini, capsys):
    code, out, err = run(capsys, "-C", str(mini.root), "query", "//dbt:fct_paymnts")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: no target //dbt:fct_paymnts (did you mean //dbt:fct_payments")
    mini.write({"dbt/BUILD": "dbt_project(project_dir=some_var)\n"})
    code, out, err = run(capsys, "-C", str(mini.root), "query", "//...")
    assert code == 2 and err.startswith("error: dbt/BUILD:1:25: a name is not a literal")
    code, out, err = run(capsys, "-C", str(mini.root), "--format", "json", "query", "//...")
    assert json.loads(out)["file"] == "dbt/BUILD"
    code, out, err = run(capsys, "-C", str(mini.root), "query", "affected", "--since", "no-such-rev")
    assert code == 2 and "unknown revision 'no-such-rev'" in err


def test_debug_shows_the_traceback(mini, capsys):
    code, _, err = run(capsys, "-C", str(mini.root), "--debug", "query", "//nope/...")
    assert code == 2 and "Traceback" in err


def test_check_and_tailor(mini, capsys):
    assert run(capsys, "-C", str(mini.root), "check")[0] == 0
    mini.write(
        {
            "dags/risk/risk_daily.py": mini.read("dags/ops/housekeeping.py").replace("housekeeping", "risk_daily"),
            "terraform/modules/kms/main.tf": 'resource "aws_kms_key" "k" {}\n',
            "notes.txt": "stray",
        }
    )
    code, out, _ = run(capsys, "-C", str(mini.root), "check")
    assert code == 1
    assert "dags/risk/risk_daily.py" in out and "terraform/modules/kms/main.tf" in out and "notes.txt" in out
    code, out, _ = run(capsys, "-C", str(mini.root), "tailor", "--check")
    assert code == 1 and "would write dags/risk/BUILD: airflow_dags" in out
    assert not (mini.root / "dags/risk/BUILD").exists()
    code, out, _ = run(capsys, "-C", str(mini.root), "--format", "json", "tailor")
    assert json.loads(out)["still_unowned"] == ["notes.txt"]
    assert (mini.root / "dags/risk/BUILD").read_text() == 'airflow_dags(sources=["*.py"])\n'
    assert (mini.root / "terraform/modules/kms/BUILD").read_text() == "terraform_module()\n"
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "//dags/risk:risk_daily", "//terraform/modules/kms")
    assert out.split() == ["//dags/risk:risk_daily", "//terraform/modules/kms:kms"]


def test_console_script_is_installed_and_answers_version():
    done = subprocess.run([sys.executable, "-m", "graphbuild.cli", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("graphbuild ")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["nope"])
    assert info.value.code == 2


def test_query_json_and_why_show_each_edges_origin(mini, capsys):
    code, out, _ = run(capsys, "-C", str(mini.root), "--format", "json", "query", "//dags/payments:payments_daily")
    edge = next(e for e in json.loads(out)["edges"] if e["target"] == "//dbt:fct_payments")
    assert edge == {
        "source": "//dags/payments:payments_daily",
        "target": "//dbt:fct_payments",
        "file": "dags/payments/payments_daily.py",
        "line": 20,
        "how": edge["how"],
        "check_only": False,
    }
    mini.edit("dbt/models/marts/fct_payments.sql", "    p.amount,\n", "    p.amount,\n    p.amount * 0.01 as fee_amount,\n")
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "why", "//dags/payments:payments_daily", "--since", "HEAD")
    assert code == 0 and f"  edge //dags/payments:payments_daily -> //dbt:fct_payments: dags/payments/payments_daily.py:20 ({edge['how']})" in out
    code, out, _ = run(capsys, "-C", str(mini.root), "query", "why", "//dags/payments:payments_daily", "--since", "HEAD", "--format", "json")
    assert [(e["source"], e["file"], e["line"]) for e in json.loads(out)["edges"]] == [
        ("//dags/payments:payments_daily", "dags/payments/payments_daily.py", 20)
    ]


def test_check_and_tailor_agree_on_a_new_spark_job_folder(mini, capsys):
    job = "spark/jobs/chargebacks"
    mini.write(
        {
            f"{job}/__init__.py": "",
            f"{job}/main.py": "from chargebacks.transforms import clean\n",
            f"{job}/transforms.py": "def clean(df):\n    return df\n",
            f"{job}/tests/test_chargebacks.py": "def test_nothing():\n    pass\n",
        }
    )
    code, out, _ = run(capsys, "-C", str(mini.root), "check")
    assert code == 1 and "fix: run `graphbuild tailor` (it writes BUILD entries for all of them)" in out
    code, out, _ = run(capsys, "-C", str(mini.root), "tailor", "--check")
    assert code == 1 and out == f'would write {job}/BUILD: spark_job(main="main.py")\n'
    code, out, _ = run(capsys, "-C", str(mini.root), "--format", "json", "tailor")
    assert json.loads(out)["still_unowned"] == []
    assert run(capsys, "-C", str(mini.root), "check")[0] == 0
    code, out, _ = run(capsys, "-C", str(mini.root), "--format", "json", "query", f"//{job}")
    assert json.loads(out)["targets"] == [{"label": f"//{job}:chargebacks", "kind": "spark_job"}]

    mini.write({"spark/jobs/stray/run.py": "print('no main.py')\n", "notes.txt": "stray"})  # nothing tailor knows
    code, out, _ = run(capsys, "-C", str(mini.root), "check")
    assert code == 1 and "run `graphbuild tailor`" not in out and "`graphbuild tailor` knows none of them" in out
    assert run(capsys, "-C", str(mini.root), "tailor", "--check")[1] == "nothing to tailor\n"


def test_test_takes_exclusion_patterns_without_a_double_dash(mini, capsys):
    code, out, err = run(capsys, "-C", str(mini.root), "--format", "json", "test", "//kafka/...", "-//kafka/topics:payments.v1")
    assert code == 0, err
    assert json.loads(out)["selected"] == 0
    code, out, _ = run(capsys, "-C", str(mini.root), "test", "--format", "json", "-//...")  # only exclusions: all but those
    assert json.loads(out)["selected"] == 0
    with pytest.raises(SystemExit) as bad:
        main(["-C", str(mini.root), "test", "//...", "-//dags/...", "--bogus"])
    assert bad.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_test_verbose_shows_the_log_of_every_action(mini, capsys):
    assert run(capsys, "-C", str(mini.root), "test", "//kafka/...")[0] == 0
    code, _, quiet = run(capsys, "-C", str(mini.root), "test", "//kafka/...")
    assert code == 0 and "history: versions/1.avsc" not in quiet
    code, _, err = run(capsys, "-C", str(mini.root), "test", "-v", "//kafka/...")
    assert code == 0 and "CACHED  //kafka/topics:payments.v1#avro-compat" in err and "    history: versions/1.avsc" in err
    code, out, _ = run(capsys, "-C", str(mini.root), "--format", "json", "test", "--verbose", "//kafka/...")
    logs = {r["name"]: r["log"] for r in json.loads(out)["results"]}
    assert "history: versions/1.avsc" in logs["avro-compat"]


def test_top_level_help_lists_the_rules_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and "    schema " in out and "schema compat: Check that a new Avro schema" in out
    assert run(capsys, "schema", "--help")[:2] == (0, run(capsys, "schema", "-h")[1])


_PATTERNS = st.lists(
    st.tuples(st.booleans(), st.sampled_from(["//...", "//dags/...", "//dbt:fct_payments", "//kafka/topics:all", "//a/b/..."])).map(
        lambda signed: ("-" if signed[0] else "") + signed[1]
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(patterns=_PATTERNS, flags=st.sampled_from([[], ["--keep-going"], ["-j", "3"], ["--since", "HEAD~1", "-v"]]))
def test_test_reads_exclusions_as_patterns_in_order_wherever_the_flags_are(patterns, flags):
    cli_main = importlib.import_module("graphbuild.cli.main")
    for argv in (["test", *flags, *patterns], ["-C", "x", "test", *patterns, *flags], ["--format", "json", "test", *flags, "--", *patterns]):
        args = cli_main._parser().parse_args(cli_main._mark_exclusions(argv))
        assert [p.removeprefix(cli_main._EXCLUSION) for p in args.patterns] == patterns
