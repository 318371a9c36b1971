"""The FinSight Terraform: formatting with the real CLI and security properties read with python-hcl2.

`terraform validate` needs the AWS provider, which cannot be downloaded here, so the modules are
checked statically: every .tf file is parsed with python-hcl2 and the properties the platform
promises (encrypted private buckets, the audit log's Object Lock, the cache's expiry, the OIDC
trust, no secret values, required tags) are asserted on the parsed structure. The reading helpers
and the generic policy are those of the `static` check (rules/checks/terraform.py), which
`graphbuild test` runs on every terraform_module; this file adds what is specific to FinSight.

Each environment's root stack calls modules/platform (the data platform, wired once) with what
differs between environments (terraform.tfvars), and calls github_oidc_role and build_cache_bucket
itself so that their GitHub OIDC subjects stay literal where the static policy renders them. The
helper `argument` follows a module argument through that chain (platform variable -> the root
stack's argument -> its local or terraform.tfvars) to the value Terraform would see.

When the AWS provider is on disk (TF_PLUGIN_CACHE_DIR), `terraform test` with a mocked provider
also plans every stack with its terraform.tfvars, which runs the platform's variable validations.
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
from rules.checks.terraform_policy import subject_problem

ROOT = Path(__file__).resolve().parents[2]
TF = ROOT / "terraform"
LEAF_MODULES = (
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
MODULES = (*LEAF_MODULES, "platform")  # platform: the composition the root stacks call
ROOT_CALLED = ("platform", "github_oidc_role", "build_cache_bucket")  # what a root stack calls itself
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


def platform_calls() -> dict[str, dict[str, Any]]:
    return {name: body for name, _, body in blocks(TF / "modules" / "platform", "module")}


def tfvars(env: str) -> dict[str, Any]:
    return load(TF / "envs" / env / "terraform.tfvars")


_WHOLE_REF = re.compile(r"\$\{(var|local)\.([A-Za-z_]\w*)((?:\.[A-Za-z_]\w*)*)\}")


def resolve(value: Any, env: str, frame: str) -> Any:
    """A value as Terraform would see it: ``${var.x.y}`` in the platform module is the root stack's
    argument x (then .y); in the root stack, ``${var.x}`` is terraform.tfvars' x and ``${local.x}``
    its local. Anything else (a module output, a literal) is returned as written."""
    if isinstance(value, list):
        return [resolve(v, env, frame) for v in value]
    found = _WHOLE_REF.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        return value
    kind, name, path = found[1], found[2], [p for p in found[3].split(".") if p]
    if frame == "platform":
        assert kind == "var", f"platform: local.{name} is not resolved here"
        resolved = resolve(module_calls(env)["platform"][name], env, "env")
    elif kind == "var":
        resolved = tfvars(env)[name]
    else:
        resolved = resolve(locals_of(TF / "envs" / env)[name], env, "env")
    for key in path:
        resolved = resolved[key]
    return resolved


def argument(env: str, module: str, name: str) -> Any:
    """What the environment passes to a leaf module's variable, through the platform module if it calls it."""
    if module in module_calls(env):
        return resolve(module_calls(env)[module][name], env, "env")
    return resolve(platform_calls()[module][name], env, "platform")


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
# planning with a mocked provider, where the AWS provider is on disk


MOCK_PLAN = """
mock_provider "aws" {
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
  mock_data "aws_subnets" {
    defaults = {
      ids = ["subnet-0a", "subnet-0b", "subnet-0c"]
    }
  }
  mock_data "aws_region" {
    defaults = {
      name = "eu-west-1"
    }
  }
}

run "plan" {
  command = plan

  assert {
    condition     = length(keys(module.platform.deploy_access)) == 5
    error_message = "the platform gives the deploy role its buckets, keys, registry and policies"
  }
}
"""


def aws_provider_dir() -> Path | None:
    cache = os.environ.get("TF_PLUGIN_CACHE_DIR")
    if cache and any(Path(cache).glob("registry.terraform.io/hashicorp/aws/5.*/*/terraform-provider-aws*")):
        return Path(cache)
    return None


def terraform(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # -plugin-dir is the only source of providers: a plugin cache on the same folder would copy onto itself
    env = {k: v for k, v in os.environ.items() if k != "TF_PLUGIN_CACHE_DIR"}
    env |= {"TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"}
    return subprocess.run(["terraform", *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def mocked_stacks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of terraform/ (and the topic schemas the Glue module reads) with every stack initialised."""
    plugins = aws_provider_dir()
    if shutil.which("terraform") is None or plugins is None:
        pytest.skip("the terraform CLI or the AWS provider (TF_PLUGIN_CACHE_DIR) is not on disk; stacks not planned")
    copy = tmp_path_factory.mktemp("stacks")
    shutil.copytree(TF, copy / "terraform", ignore=shutil.ignore_patterns(".terraform*"))
    shutil.copytree(ROOT / "kafka" / "topics", copy / "kafka" / "topics")
    for env in ENVS:
        folder = copy / "terraform" / "envs" / env
        (folder / "tests").mkdir()
        (folder / "tests" / "plan.tftest.hcl").write_text(MOCK_PLAN, encoding="utf-8")
        result = terraform(["init", "-backend=false", "-input=false", f"-plugin-dir={plugins}"], folder)
        assert result.returncode == 0, result.stdout + result.stderr
    return copy / "terraform" / "envs"


@pytest.mark.parametrize("env", ENVS)
def test_terraform_plans_the_stack_with_its_tfvars(mocked_stacks: Path, env: str) -> None:
    # the real evaluation: types, the platform's validations, the wiring between the root and the platform
    result = terraform(["test", "-var-file=terraform.tfvars"], mocked_stacks / env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_terraform_refuses_a_prod_audit_log_kept_less_than_seven_years(mocked_stacks: Path) -> None:
    folder = mocked_stacks / "prod"
    (folder / "short.tfvars").write_text("retention_days = {\n  logs      = 400\n  audit_log = 365\n}\n", encoding="utf-8")
    result = terraform(["test", "-var-file=terraform.tfvars", "-var-file=short.tfvars"], folder)
    assert result.returncode != 0
    assert "at least seven years" in result.stdout + result.stderr


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
    # the root stack calls the platform and the two modules that trust GitHub; the platform the rest
    calls = module_calls(env)
    assert {name: body["source"] for name, body in calls.items()} == {m: f"../../modules/{m}" for m in ROOT_CALLED}
    inner = {body["source"] for body in platform_calls().values()}
    assert all(s.startswith("../") and s.count("/") == 1 for s in inner), inner
    used = {s.removeprefix("../") for s in inner} | {m for m in ROOT_CALLED if m != "platform"}
    assert used == set(LEAF_MODULES)
    assert not {s.removeprefix("../") for s in inner} & set(ROOT_CALLED), "a module is called twice"
    for source in {b["source"] for b in calls.values()}:
        assert (TF / "envs" / env / source).resolve().is_dir(), source
    for source in inner:
        assert (TF / "modules" / "platform" / source).resolve().is_dir(), source


@pytest.mark.parametrize("env", ENVS)
def test_env_variables_are_declared_and_set(env: str) -> None:
    declared = variables(TF / "envs" / env)
    values = tfvars(env)
    assert set(values) <= set(declared), set(values) - set(declared)
    assert {name for name, body in declared.items() if "default" not in body} <= set(values)
    referenced = set(re.findall(r"\bvar\.(\w+)", "".join(p.read_text(encoding="utf-8") for p in tf_files(TF / "envs" / env))))
    assert referenced == set(declared), "every variable is used"
    platform_args = set(module_calls(env)["platform"]) - {"source"}
    platform_vars = variables(TF / "modules" / "platform")
    assert platform_args == set(platform_vars), "the platform's inputs are all given, there are no defaults to forget"


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
    for name, body in platform_calls().items():
        assert body["environment"] == "${var.environment}", name
    # the provider refuses credentials of another environment's account
    assert providers[0]["allowed_account_ids"] == ["${var.aws_account_id}"]
    assert re.fullmatch(r"[0-9]{12}", tfvars(env)["aws_account_id"])


def test_every_environment_has_its_own_account() -> None:
    accounts = [tfvars(env)["aws_account_id"] for env in ENVS]
    assert len(set(accounts)) == len(ENVS)


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
    retention_days = {env: argument(env, "audit_bucket", "retention_days") for env in ENVS}
    assert retention_days["prod"] >= 7 * 365, "SOX: seven years in production"
    assert all(isinstance(d, int) and d >= 1 for d in retention_days.values())
    for env in ENVS:  # only the environment's deploy role appends to it
        assert argument(env, "audit_bucket", "writer_role_arns") == ["${module.github_oidc_role.role_arn}"]


def test_build_cache_expires_and_has_a_ci_writer_and_an_engineer_reader() -> None:
    folder = TF / "modules" / "build_cache_bucket"
    (_, _, lifecycle), = resources(folder, "aws_s3_bucket_lifecycle_configuration")
    rule = one(lifecycle["rule"])
    assert rule["status"] == "Enabled"
    assert one(rule["expiration"])["days"] == "${var.expiration_days}"
    for env in ENVS:
        days = argument(env, "build_cache_bucket", "expiration_days")
        assert isinstance(days, int) and 1 <= days <= 90
    roles = {name: body for _, name, body in resources(folder, "aws_iam_role")}
    assert set(roles) == {"writer", "reader", "ci_reader"}  # CI on main writes; engineers and pull requests read
    docs = {name: doc for _, name, doc in blocks(folder, "data")}
    writer_actions = {a for s in docs["writer"]["statement"] for a in s["actions"]}
    reader_actions = {a for s in docs["reader"]["statement"] for a in s["actions"]}
    assert "s3:PutObject" in writer_actions and not any(a.startswith("s3:Put") for a in reader_actions)
    assert "secretsmanager:GetSecretValue" in writer_actions & reader_actions  # the signing key: sign, verify
    for trust_doc in ("writer_trust", "ci_reader_trust"):
        trust = {c["variable"]: c for c in conditions(docs[trust_doc])}
        assert trust["token.actions.githubusercontent.com:aud"]["values"] == ["sts.amazonaws.com"]
        assert trust["token.actions.githubusercontent.com:sub"]["test"] == "StringEquals"
    ci_reader_policy = {name: body for _, name, body in resources(folder, "aws_iam_role_policy")}["ci_reader"]
    assert ci_reader_policy["policy"] == "${data.aws_iam_policy_document.reader.json}"


@pytest.mark.parametrize("env", ENVS)
def test_only_this_environments_ci_writes_its_cache(env: str) -> None:
    subjects = module_calls(env)["build_cache_bucket"]["writer_subjects"]
    assert subjects and all(s.startswith(f"repo:{REPOSITORY}:") and "*" not in s for s in subjects)
    assert all(subject_problem(s) is None for s in subjects)
    if env != "dev":
        assert subjects == [f"repo:{REPOSITORY}:environment:{env}"]
    else:  # main writes the shared cache; pull requests only read it
        assert subjects == [f"repo:{REPOSITORY}:ref:refs/heads/main"]
        assert module_calls(env)["build_cache_bucket"]["reader_subjects"] == [f"repo:{REPOSITORY}:pull_request"]


@pytest.mark.parametrize("env", ENVS)
def test_the_static_policy_renders_the_oidc_subjects_of_the_root_stack(env: str, tmp_path: Path) -> None:
    # the subjects must stay literal where the oidc-subject rule looks (the arguments of the module
    # that holds the trust, in its caller): a wildcard put into the root stack is caught statically
    copy = tmp_path / "terraform"
    shutil.copytree(TF, copy, ignore=shutil.ignore_patterns(".terraform*"))
    main = copy / "envs" / env / "main.tf"
    text = main.read_text(encoding="utf-8")
    text = text.replace(f'"repo:{REPOSITORY}:', '"repo:finsight/*:')
    text = text.replace(f'github_repository = "{REPOSITORY}"', 'github_repository = "*/data-platform"')
    main.write_text(text, encoding="utf-8")
    rules = {(v.address, v.rule) for v in check_module(tmp_path, read_module(tmp_path, f"terraform/envs/{env}"))}
    assert rules == {("module.build_cache_bucket", "oidc-subject"), ("module.github_oidc_role", "oidc-subject")}


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
    assert platform_calls()["secrets"]["secrets"] == "${local.secrets}"
    secrets = locals_of(TF / "modules" / "platform")["secrets"]
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
    for name, body in platform_calls().items():
        assert "var.tags" in str(body["tags"]), name


# ---------------------------------------------------------------------------------------------
# Kafka topics and schemas


def topic_settings(topic: str) -> dict[str, Any]:
    with (ROOT / "kafka" / "topics" / topic / "topic.toml").open("rb") as f:
        return tomllib.load(f)


def test_kafka_topics_match_the_topic_folders() -> None:
    # what a topic is (kafka/topics/<topic>/topic.toml) is the same in every environment
    topics = locals_of(TF / "modules" / "platform")["kafka_topics"]
    assert set(topics) == set(TOPICS)
    for name, tf in topics.items():
        toml = topic_settings(name)
        for key in ("replication_factor", "min_insync_replicas", "retention_ms", "cleanup_policy",
                    "compatibility", "description"):
            assert tf[key] == toml[key], f"{name} {key}"


@pytest.mark.parametrize("env", ENVS)
def test_kafka_partitions_of_each_environment(env: str) -> None:
    # only the partitions differ: prod has those of topic.toml, the others at most as many
    partitions = tfvars(env)["kafka_topic_partitions"]
    assert set(partitions) == set(TOPICS)
    for name, count in partitions.items():
        if env == "prod":
            assert count == topic_settings(name)["partitions"], name
        else:
            assert isinstance(count, int) and 1 <= count <= topic_settings(name)["partitions"], name


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
