import json
import subprocess
import sys

import pytest

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
