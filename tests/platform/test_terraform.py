"""The FinSight Terraform: formatting with the real CLI and security properties read with python-hcl2.

`terraform validate` needs the AWS provider, which cannot be downloaded here, so the modules are
checked statically: every .tf file is parsed with python-hcl2 and the properties the platform
promises (encrypted private buckets, the audit log's Object Lock, the cache's expiry, the OIDC
trust, no secret values, required tags) are asserted on the parsed structure. The reading helpers
and the generic policy are those of the `static` check (rules/checks/terraform.py), which
`graphbuild test` runs on every terraform_module; this file adds what is specific to FinSight.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from rules.checks.terraform import (
    DEFAULT_REQUIRED_TAGS,
    UNTAGGABLE,
    blocks,
    check_module,
    conditions,
    load,
    locals_of,
    one,
    refers_to,
    resources,
    tf_files,
    variables,
)
from rules.checks.terraform_hcl import read_module

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
MODULES = (
    "kms",
    "data_lake_buckets",
    "artifact_store",
    "build_cache_bucket",
    "audit_bucket",
    "mwaa",
    "msk_cluster",
    "msk_topics",
    "emr_serverless",
    "glue_schema_registry",
    "secrets",
    "github_oidc_role",
)
ENVS = ("dev", "staging", "prod")
TOPICS = (
    "payments.transactions.v1",
    "cards.authorizations.v1",
    "transfers.events.v1",
    "ledger.entries.v1",
    "fraud.signals.v1",
    "kyc.events.v1",
    "fx.rates.v1",
    "accounts.changes.v1",
)
REQUIRED_TAGS = DEFAULT_REQUIRED_TAGS  # Project, Environment, Owner, DataClassification
REPOSITORY = "finsight/data-platform"
# UNTAGGABLE: the resource types the AWS provider cannot tag; every other resource must carry the required tags
VERSIONED_BUCKETS = {  # module -> buckets whose history matters
    "data_lake_buckets": {"zone"},
    "artifact_store": {"artifacts"},
    "audit_bucket": {"audit"},
    "mwaa": {"dags"},
}


# ---------------------------------------------------------------------------------------------
# reading HCL: the helpers of the `static` check (rules/checks/terraform.py), shared with these tests


def module_calls(env: str) -> dict[str, dict[str, Any]]:
    return {name: body for name, _, body in blocks(TF / "envs" / env, "module")}


ALL_MODULE_DIRS = [TF / "modules" / m for m in MODULES]
ALL_DIRS = ALL_MODULE_DIRS + [TF / "envs" / e for e in ENVS]


# ---------------------------------------------------------------------------------------------
# formatting, with the real CLI


def terraform_fmt(path: Path) -> subprocess.CompletedProcess[str]:
    if shutil.which("terraform") is None:
        pytest.skip("the terraform CLI is not on PATH; fmt -check not run")
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(
        ["terraform", "fmt", "-check", "-recursive", "-diff", str(path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_terraform_fmt_check_passes() -> None:
    result = terraform_fmt(TF.relative_to(ROOT))
    assert result.returncode == 0, f"terraform fmt -check failed:\n{result.stdout}\n{result.stderr}"


def test_terraform_fmt_check_catches_misformatting(tmp_path: Path) -> None:
    # proves the check above is real: the same command fails on a misaligned copy
    text = (TF / "modules" / "kms" / "outputs.tf").read_text(encoding="utf-8")
    (tmp_path / "outputs.tf").write_text(text.replace("  value       =", "  value =   "), encoding="utf-8")
    result = terraform_fmt(tmp_path)
    assert result.returncode != 0 and "outputs.tf" in result.stdout


# ---------------------------------------------------------------------------------------------
# layout


def test_every_tf_file_parses_with_hcl2() -> None:
    files = sorted(TF.rglob("*.tf"))
    assert len(files) >= 5 * len(MODULES)
    for path in files:
        assert isinstance(load(path), dict), path


@pytest.mark.parametrize("folder", ALL_DIRS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_folder_meets_the_static_policy(folder: Path) -> None:
    # encrypted private buckets, required tags, no plaintext secrets, OIDC trust pinned to a repository
    violations = check_module(ROOT, read_module(ROOT, folder.relative_to(ROOT).as_posix()))
    assert violations == [], "\n".join(map(str, violations))


@pytest.mark.parametrize("folder", ALL_DIRS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_folder_is_a_terraform_module_target(folder: Path) -> None:
    tree = ast.parse((folder / "BUILD").read_text(encoding="utf-8"))
    assert len(tree.body) == 1
    call = tree.body[0].value
    assert isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "terraform_module"


@pytest.mark.parametrize("module", MODULES)
def test_module_layout_and_versions(module: str) -> None:
    folder = TF / "modules" / module
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (folder / name).is_file(), name
    terraform = one(load(folder / "versions.tf")["terraform"])
    assert terraform["required_version"].startswith(">= 1.")
    aws = one(terraform["required_providers"])["aws"]
    assert aws["source"] == "hashicorp/aws" and re.fullmatch(r"~> 5\.\d+", aws["version"])
    assert "backend" not in terraform, "only root stacks configure a backend"


def test_module_folders_are_the_declared_modules() -> None:
    assert {p.name for p in (TF / "modules").iterdir() if p.is_dir()} == set(MODULES)
    assert {p.name for p in (TF / "envs").iterdir() if p.is_dir()} == set(ENVS)


@pytest.mark.parametrize("env", ENVS)
def test_env_stack_uses_every_module_by_relative_source(env: str) -> None:
    calls = module_calls(env)
    sources = {body["source"] for body in calls.values()}
    assert all(s.startswith("../../modules/") for s in sources), sources
    assert {s.removeprefix("../../modules/") for s in sources} == set(MODULES)
    for source in sources:
        assert (TF / "envs" / env / source).resolve().is_dir(), source


@pytest.mark.parametrize("env", ENVS)
def test_env_backend_is_s3_with_names_only(env: str) -> None:
    backends = [one(t["backend"]) for t in blocks_terraform(TF / "envs" / env) if "backend" in t]
    assert len(backends) == 1 and set(backends[0]) == {"s3"}
    s3 = backends[0]["s3"]
    assert s3["bucket"] == f"finsight-{env}-terraform-state"
    assert s3["key"] == f"data-platform/{env}/terraform.tfstate"
    assert s3["encrypt"] is True
    assert set(s3) <= {"bucket", "key", "region", "encrypt", "use_lockfile", "kms_key_id", "dynamodb_table"}


def blocks_terraform(folder: Path) -> list[dict[str, Any]]:
    return [t for path in tf_files(folder) for t in load(path).get("terraform", [])]


@pytest.mark.parametrize("env", ENVS)
def test_env_provider_has_default_tags_and_environment_is_the_folder(env: str) -> None:
    providers = [p["aws"] for path in tf_files(TF / "envs" / env) for p in load(path).get("provider", [])]
    assert len(providers) == 1
    default_tags = one(one(providers[0]["default_tags"])["tags"])
    assert {"Project", "Environment", "Owner"} <= set(default_tags)
    local = locals_of(TF / "envs" / env)
    assert local["environment"] == env
    assert set(REQUIRED_TAGS) <= set(local["tags"])
    for name, body in module_calls(env).items():
        assert body["environment"] == "${local.environment}", name


# ---------------------------------------------------------------------------------------------
# buckets


def all_buckets() -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, name, body) for m in MODULES for _, name, body in resources(TF / "modules" / m, "aws_s3_bucket")]


def test_every_bucket_is_known() -> None:
    found = {(m, name) for m, name, _ in all_buckets()}
    assert found == {("data_lake_buckets", "zone"), ("artifact_store", "artifacts"), ("build_cache_bucket", "cache"),
                     ("audit_bucket", "audit"), ("mwaa", "dags")}


@pytest.mark.parametrize(("module", "bucket"), [(m, n) for m, n, _ in all_buckets()])
def test_bucket_is_kms_encrypted_private_and_tls_only(module: str, bucket: str) -> None:
    folder = TF / "modules" / module
    ref = f"aws_s3_bucket.{bucket}"

    sse = [b for _, _, b in resources(folder, "aws_s3_bucket_server_side_encryption_configuration") if refers_to(b, ref)]
    assert len(sse) == 1, f"{module}: {ref} has no server-side encryption configuration"
    default = one(one(sse[0]["rule"])["apply_server_side_encryption_by_default"])
    assert default["sse_algorithm"] == "aws:kms" and "var.kms_key_arn" in default["kms_master_key_id"]

    pab = [b for _, _, b in resources(folder, "aws_s3_bucket_public_access_block") if refers_to(b, ref)]
    assert len(pab) == 1, f"{module}: {ref} has no public access block"
    for flag in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"):
        assert pab[0][flag] is True, flag

    owner = [b for _, _, b in resources(folder, "aws_s3_bucket_ownership_controls") if refers_to(b, ref)]
    assert owner and one(owner[0]["rule"])["object_ownership"] == "BucketOwnerEnforced"

    policy = [b for _, _, b in resources(folder, "aws_s3_bucket_policy") if refers_to(b, ref)]
    assert policy, f"{module}: {ref} has no bucket policy"
    tls = [c for _, _, doc in blocks(folder, "data") for c in conditions(doc) if c["variable"] == "aws:SecureTransport"]
    assert tls and tls[0]["values"] == ["false"]


@pytest.mark.parametrize(("module", "bucket"), [(m, b) for m, names in VERSIONED_BUCKETS.items() for b in names])
def test_buckets_that_keep_history_are_versioned(module: str, bucket: str) -> None:
    folder = TF / "modules" / module
    versioning = [b for _, _, b in resources(folder, "aws_s3_bucket_versioning") if refers_to(b, f"aws_s3_bucket.{bucket}")]
    assert len(versioning) == 1
    assert one(versioning[0]["versioning_configuration"])["status"] == "Enabled"


def test_audit_bucket_has_object_lock_in_compliance_mode() -> None:
    folder = TF / "modules" / "audit_bucket"
    (_, _, bucket), = resources(folder, "aws_s3_bucket")
    assert bucket["object_lock_enabled"] is True
    (_, _, lock), = resources(folder, "aws_s3_bucket_object_lock_configuration")
    assert "aws_s3_bucket.audit" in lock["bucket"]
    retention = one(one(lock["rule"])["default_retention"])
    assert retention["mode"] == "COMPLIANCE" and retention["days"] == "${var.retention_days}"
    deny = [s for _, _, doc in blocks(folder, "data") for s in doc.get("statement", []) if s.get("sid") == "DenyDeletes"]
    assert deny and deny[0]["effect"] == "Deny" and "s3:DeleteObjectVersion" in deny[0]["actions"]
    retention_days = {env: module_calls(env)["audit_bucket"]["retention_days"] for env in ENVS}
    assert retention_days["prod"] >= 7 * 365, "SOX: seven years in production"
    assert all(isinstance(d, int) and d >= 1 for d in retention_days.values())


def test_build_cache_expires_and_has_a_ci_writer_and_an_engineer_reader() -> None:
    folder = TF / "modules" / "build_cache_bucket"
    (_, _, lifecycle), = resources(folder, "aws_s3_bucket_lifecycle_configuration")
    rule = one(lifecycle["rule"])
    assert rule["status"] == "Enabled"
    assert one(rule["expiration"])["days"] == "${var.expiration_days}"
    for env in ENVS:
        days = module_calls(env)["build_cache_bucket"]["expiration_days"]
        assert isinstance(days, int) and 1 <= days <= 90
    roles = {name: body for _, name, body in resources(folder, "aws_iam_role")}
    assert set(roles) == {"writer", "reader"}
    docs = {name: doc for _, name, doc in blocks(folder, "data")}
    writer_actions = {a for s in docs["writer"]["statement"] for a in s["actions"]}
    reader_actions = {a for s in docs["reader"]["statement"] for a in s["actions"]}
    assert "s3:PutObject" in writer_actions and not any(a.startswith("s3:Put") for a in reader_actions)
    trust = {c["variable"]: c for c in conditions(docs["writer_trust"])}
    assert trust["token.actions.githubusercontent.com:aud"]["values"] == ["sts.amazonaws.com"]
    assert trust["token.actions.githubusercontent.com:sub"]["test"] == "StringEquals"


@pytest.mark.parametrize("env", ENVS)
def test_only_this_environments_ci_writes_its_cache(env: str) -> None:
    subjects = module_calls(env)["build_cache_bucket"]["writer_subjects"]
    assert subjects and all(s.startswith(f"repo:{REPOSITORY}:") and "*" not in s for s in subjects)
    if env != "dev":
        assert subjects == [f"repo:{REPOSITORY}:environment:{env}"]


# ---------------------------------------------------------------------------------------------
# identity and secrets


def test_github_oidc_role_trusts_only_this_repository_and_environment() -> None:
    folder = TF / "modules" / "github_oidc_role"
    (_, _, trust), = [d for d in blocks(folder, "data") if d[1] == "trust"]
    (statement,) = trust["statement"]
    assert statement["actions"] == ["sts:AssumeRoleWithWebIdentity"]
    assert one(statement["principals"])["type"] == "Federated"
    by_variable = {c["variable"]: c for c in conditions(trust)}
    assert set(by_variable) == {"token.actions.githubusercontent.com:aud", "token.actions.githubusercontent.com:sub"}
    aud, sub = by_variable["token.actions.githubusercontent.com:aud"], by_variable["token.actions.githubusercontent.com:sub"]
    assert aud["test"] == "StringEquals" and aud["values"] == ["sts.amazonaws.com"]
    assert sub["test"] == "StringEquals", "no StringLike: the subject is matched exactly"
    (template,) = sub["values"]
    for env in ENVS:
        call = module_calls(env)["github_oidc_role"]
        local = locals_of(TF / "envs" / env)
        repo = local["github_repository"] if call["github_repository"] == "${local.github_repository}" else None
        rendered = template.replace("${var.github_repository}", repo).replace("${var.environment}", local["environment"])
        assert rendered == f"repo:{REPOSITORY}:environment:{env}"


def test_no_trust_policy_matches_github_subjects_with_wildcards() -> None:
    for folder in ALL_DIRS:
        for _, _, doc in blocks(folder, "data"):
            for c in conditions(doc):
                if c["variable"].endswith(":sub"):
                    assert c["test"] == "StringEquals", f"{folder.name}: {c}"


def test_secrets_are_declared_by_name_only() -> None:
    for path in TF.rglob("*.tf"):
        text = path.read_text(encoding="utf-8")
        assert "aws_secretsmanager_secret_version" not in text, path
        assert "secret_string" not in text and "secret_binary" not in text, path
        assert not re.search(r"AKIA[0-9A-Z]{16}|BEGIN [A-Z ]*PRIVATE KEY", text), path
        assert not re.search(r"(?i)\b(password|secret_key|access_key|token)\s*=", text), path
    types = {t for t, _, _ in resources(TF / "modules" / "secrets")}
    assert types == {"aws_secretsmanager_secret"}
    for env in ENVS:
        secrets = locals_of(TF / "envs" / env)["secrets"]
        assert secrets and all(set(v) == {"description", "owner"} for v in secrets.values())


# ---------------------------------------------------------------------------------------------
# tags


@pytest.mark.parametrize("module", MODULES)
def test_module_requires_the_tags_and_tags_every_taggable_resource(module: str) -> None:
    folder = TF / "modules" / module
    tags_var = variables(folder)["tags"]
    condition = one(tags_var["validation"])["condition"]
    assert all(f'"{tag}"' in condition or tag in condition for tag in REQUIRED_TAGS)
    for type_, name, body in resources(folder):
        if type_ in UNTAGGABLE:
            assert "tags" not in body, f"{type_}.{name}"
            continue
        assert "var.tags" in str(body.get("tags", "")), f"{module}: {type_}.{name} is not tagged with var.tags"


@pytest.mark.parametrize("env", ENVS)
def test_every_module_call_passes_the_environment_tags(env: str) -> None:
    for name, body in module_calls(env).items():
        assert "local.tags" in str(body["tags"]), name


# ---------------------------------------------------------------------------------------------
# Kafka topics and schemas


def topic_settings(topic: str) -> dict[str, Any]:
    with (ROOT / "kafka" / "topics" / topic / "topic.toml").open("rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize("env", ENVS)
def test_kafka_topics_match_the_topic_folders(env: str) -> None:
    topics = locals_of(TF / "envs" / env)["kafka_topics"]
    assert set(topics) == set(TOPICS)
    for name, tf in topics.items():
        toml = topic_settings(name)
        for key in ("replication_factor", "min_insync_replicas", "retention_ms", "cleanup_policy",
                    "compatibility", "description"):
            assert tf[key] == toml[key], f"{env} {name} {key}"
        if env == "prod":
            assert tf["partitions"] == toml["partitions"], name
        else:
            assert 1 <= tf["partitions"] <= toml["partitions"], name


def test_glue_schemas_are_read_from_the_topic_folders_by_relative_path() -> None:
    folder = TF / "modules" / "glue_schema_registry"
    (_, _, schema), = resources(folder, "aws_glue_schema")
    assert schema["data_format"] == "AVRO"
    assert schema["schema_definition"] == "${file(\"${local.schemas_root}/${each.key}/schema.avsc\")}"
    root = locals_of(folder)["schemas_root"]
    assert "${path.module}/../../../kafka/topics" in root
    resolved = (folder / "../../../kafka/topics").resolve()
    assert all((resolved / t / "schema.avsc").is_file() for t in TOPICS)
    mapping = locals_of(folder)["glue_compatibility"]
    assert set(mapping) == {"NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
                            "FULL_TRANSITIVE"}
    assert {topic_settings(t)["compatibility"] for t in TOPICS} <= set(mapping)
    assert mapping["BACKWARD_TRANSITIVE"] == "BACKWARD_ALL" and mapping["FULL_TRANSITIVE"] == "FULL_ALL"


def test_no_absolute_machine_paths() -> None:
    for path in TF.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"(/work/|/home/|/Users/|/root/|[A-Z]:\\\\)", text), path
            assert not re.search(r"\bfile\(\s*\"/", text), path
