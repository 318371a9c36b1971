"""The ``terraform_module`` checks: ``fmt``, ``validate`` and ``static``, with the real CLI and python-hcl2.

A small workspace is written under tmp_path: a module with one bucket, a GitHub deploy role and a
secret, and a root stack calling it. Each broken variant breaks one promise, and each test asserts
that the check fails for that reason and names the file, the line and the resource. The last tests
run the checks over the platform's own terraform/ folders, as `graphbuild test //terraform/...` does.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import diskcache
import pytest

from graphbuild.labels import Label
from graphbuild.rule import RuleContext, Target
from graphbuild.run.action import HandlerContext
from graphbuild.session import Session
from graphbuild.testing import MemorySnapshot, Settings
from graphbuild.values import FrozenDict, thaw
from rules.checks.terraform import check_fmt, check_module, check_static, check_validate
from rules.checks.terraform_hcl import parse_hcl, read_module
from rules.checks.terraform_policy import subject_problem
from rules.terraform import rule

REPO = Path(__file__).resolve().parents[3]
HAS_CLI = shutil.which("terraform") is not None
needs_cli = pytest.mark.skipif(not HAS_CLI, reason="the terraform CLI is not on PATH")

VERSIONS = """\
terraform {
  required_version = ">= 1.6.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.70"
    }
  }
}
"""

VARIABLES = """\
variable "environment" {
  description = "Deployment environment."
  type        = string
}

variable "github_repository" {
  description = "owner/name of the repository whose deploy job assumes the role."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the bucket."
  type        = string
}

variable "tags" {
  description = "Tags; must carry Project, Environment, Owner and DataClassification."
  type        = map(string)

  validation {
    condition     = alltrue([for key in ["Project", "Environment", "Owner", "DataClassification"] : contains(keys(var.tags), key)])
    error_message = "tags must include Project, Environment, Owner and DataClassification."
  }
}
"""

BUCKET = """\
resource "aws_s3_bucket" "exports" {
  bucket = "finsight-${var.environment}-ledger-exports"
  tags   = merge(var.tags, { DataClassification = "confidential" })
}

resource "aws_s3_bucket_public_access_block" "exports" {
  bucket                  = aws_s3_bucket.exports.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "exports" {
  bucket = aws_s3_bucket.exports.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
  }
}
"""

ROLE = """\
data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.github.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["repo:${var.github_repository}:environment:${var.environment}"]
    }
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  tags           = var.tags
}

resource "aws_iam_role" "deploy" {
  name               = "finsight-${var.environment}-ledger-exports-deploy"
  assume_role_policy = data.aws_iam_policy_document.trust.json
  tags               = var.tags
}

resource "aws_secretsmanager_secret" "sftp" {
  name       = "finsight/${var.environment}/ledger/sftp"
  kms_key_id = var.kms_key_arn
  tags       = var.tags
}
"""

STACK = """\
locals {
  environment = "prod"
  repository  = "finsight/data-platform"

  tags = {
    Project            = "finsight-data-platform"
    Environment        = local.environment
    Owner              = "ledger-team"
    DataClassification = "confidential"
  }
}

module "ledger_exports" {
  source = "../../modules/ledger_exports"

  environment       = local.environment
  github_repository = local.repository
  kms_key_arn       = "arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-0000-0000-000000000000"
  tags              = local.tags
}
"""

MODULE = "terraform/modules/ledger_exports"
ENV = "terraform/envs/prod"


def workspace(root: Path, module: dict[str, str] | None = None, stack: dict[str, str] | None = None) -> Path:
    files = {"main.tf": BUCKET + "\n" + ROLE, "variables.tf": VARIABLES, "versions.tf": VERSIONS, **(module or {})}
    for name, text in files.items():
        (root / MODULE).mkdir(parents=True, exist_ok=True)
        (root / MODULE / name).write_text(text, encoding="utf-8")
    for name, text in {"main.tf": STACK, "versions.tf": VERSIONS, **(stack or {})}.items():
        (root / ENV).mkdir(parents=True, exist_ok=True)
        (root / ENV / name).write_text(text, encoding="utf-8")
    return root


def line_of(text: str, needle: str, after: str = "") -> int:
    """The 1-based line of the first ``needle`` after ``after`` in ``text``."""
    return text[: text.index(needle, text.index(after))].count("\n") + 1


def request(root: Path, package: str, **settings: object) -> dict:
    files = sorted(f"{package}/{p.name}" for p in (root / package).iterdir() if p.is_file())
    return {"package": package, "files": files, "sources": files, **settings}


def static(root: Path, package: str = MODULE, **settings: object) -> dict:
    (outcome,) = check_static([request(root, package, **settings)], HandlerContext(root, root / ".scratch"))
    return outcome


# ---------------------------------------------------------------------------------------------
# static policy


def test_good_module_and_stack_pass(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    for package in (MODULE, ENV):
        outcome = static(root, package)
        assert outcome["status"] == "passed", outcome


def test_bucket_without_encryption_fails(tmp_path: Path) -> None:
    main = BUCKET[: BUCKET.index('resource "aws_s3_bucket_server_side_encryption_configuration"')] + ROLE
    outcome = static(workspace(tmp_path, {"main.tf": main}))
    assert outcome["status"] == "failed"
    assert outcome["summary"] == (f"terraform static: {MODULE}/main.tf:1: aws_s3_bucket.exports: "
                                  "bucket has no aws_s3_bucket_server_side_encryption_configuration [s3-encryption]")


def test_bucket_with_a_disallowed_algorithm_fails(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    outcome = static(root, sse_algorithms=["aws:kms:dsse"])
    assert outcome["status"] == "failed" and "sse_algorithm 'aws:kms'" in outcome["summary"] and "[s3-encryption]" in outcome["summary"]


def test_bucket_without_public_access_block_fails(tmp_path: Path) -> None:
    start, end = BUCKET.index('resource "aws_s3_bucket_public_access_block"'), BUCKET.index('resource "aws_s3_bucket_server_side')
    outcome = static(workspace(tmp_path, {"main.tf": BUCKET[:start] + BUCKET[end:] + ROLE}))
    assert outcome["status"] == "failed"
    assert outcome["summary"].endswith("aws_s3_bucket.exports: bucket has no aws_s3_bucket_public_access_block [s3-public-access]")


def test_public_access_block_with_a_flag_off_fails(tmp_path: Path) -> None:
    main = BUCKET.replace("restrict_public_buckets = true", "restrict_public_buckets = false") + ROLE
    outcome = static(workspace(tmp_path, {"main.tf": main}))
    assert outcome["status"] == "failed"
    assert outcome["summary"] == (f"terraform static: {MODULE}/main.tf:{line_of(main, 'restrict_public_buckets')}: "
                                  "aws_s3_bucket_public_access_block.exports: "
                                  "public access of aws_s3_bucket.exports is not blocked: set restrict_public_buckets = true "
                                  "[s3-public-access]")


def test_untagged_resource_fails(tmp_path: Path) -> None:
    main = BUCKET + ROLE.replace('  kms_key_id = var.kms_key_arn\n  tags       = var.tags\n', "  kms_key_id = var.kms_key_arn\n")
    outcome = static(workspace(tmp_path, {"main.tf": main}))
    assert outcome["status"] == "failed"
    assert "aws_secretsmanager_secret.sftp: has no tags Project, Environment, Owner, DataClassification" in outcome["summary"]
    assert "[required-tags]" in outcome["summary"]


def test_tags_variable_without_validation_fails(tmp_path: Path) -> None:
    variables = VARIABLES[: VARIABLES.index("\n  validation {")] + "\n}\n"
    outcome = static(workspace(tmp_path, {"variables.tf": variables}))
    assert outcome["status"] == "failed"
    # the bucket adds DataClassification itself; the other three come from nowhere now
    assert "aws_s3_bucket.exports: tags do not surely carry Project, Environment, Owner" in outcome["log"]
    assert "aws_iam_role.deploy: tags do not surely carry Project, Environment, Owner, DataClassification" in outcome["log"]


def test_required_tags_come_from_settings(tmp_path: Path) -> None:
    outcome = static(workspace(tmp_path), required_tags=["Project", "CostCenter"])
    assert outcome["status"] == "failed" and "CostCenter" in outcome["summary"]


def test_module_call_without_the_required_tags_fails(tmp_path: Path) -> None:
    stack = STACK.replace('    DataClassification = "confidential"\n', "")
    outcome = static(workspace(tmp_path, stack={"main.tf": stack}), ENV)
    assert outcome["status"] == "failed"
    assert outcome["summary"] == (f"terraform static: {ENV}/main.tf:{line_of(stack, 'tags ', 'module')}: "
                                  f"module.ledger_exports: call of {MODULE} "
                                  "does not pass tags DataClassification [required-tags]")


def test_root_stack_default_tags_tag_its_resources(tmp_path: Path) -> None:
    provider = ('provider "aws" {\n  default_tags {\n    tags = local.tags\n  }\n}\n\n'
                'resource "aws_sns_topic" "alerts" {\n  name = "ledger-alerts"\n}\n')
    assert static(workspace(tmp_path, stack={"providers.tf": provider}), ENV)["status"] == "passed"
    provider = provider.replace("tags = local.tags", 'tags = { Project = "finsight" }')
    outcome = static(workspace(tmp_path, stack={"providers.tf": provider}), ENV)
    assert outcome["status"] == "failed" and "aws_sns_topic.alerts: has no tags Environment, Owner, DataClassification" in outcome["summary"]


def test_secret_value_in_terraform_fails(tmp_path: Path) -> None:
    version = ('\nresource "aws_secretsmanager_secret_version" "sftp" {\n  secret_id     = aws_secretsmanager_secret.sftp.id\n'
               '  secret_string = var.sftp_password\n}\n')
    main = BUCKET + ROLE + version
    outcome = static(workspace(tmp_path, {"main.tf": main}))
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith(f"terraform static: {MODULE}/main.tf:{line_of(main, 'secret_string')}: "
                                         "aws_secretsmanager_secret_version.sftp: secret_string puts the secret value in the "
                                         "Terraform state")
    assert outcome["summary"].endswith("[plaintext-secret]")


@pytest.mark.parametrize(("file", "text", "expected"), [
    ("main.tf", 'resource "aws_db_instance" "ledger" {\n  username = "ledger"\n  password = "' + "Tr0ub4dor" + '"\n'
     "  tags     = var.tags\n}\n", "main.tf:67: aws_db_instance.ledger: password is a literal value in the source"),
    ("sftp.tf", 'variable "sftp_password" {\n  type    = string\n  default = "' + "hunter2" + '"\n}\n',
     "sftp.tf:3: var.sftp_password: variable named like a secret has a literal default"),
    ("prod.tfvars", 'datadog_api_key = "' + "0123456789abcdef" + '"\n', "prod.tfvars:1: datadog_api_key: literal secret value"),
])
def test_literal_secret_fails(tmp_path: Path, file: str, text: str, expected: str) -> None:
    files = {file: (BUCKET + ROLE + "\n" + text) if file == "main.tf" else text}
    outcome = static(workspace(tmp_path, files))
    assert outcome["status"] == "failed"
    assert expected in outcome["summary"] and "[plaintext-secret]" in outcome["summary"]


def test_secret_from_a_variable_or_a_data_source_passes(tmp_path: Path) -> None:
    text = ('resource "aws_db_instance" "ledger" {\n  username                    = "ledger"\n'
            "  manage_master_user_password = true\n  password                    = var.db_password\n  tags = var.tags\n}\n")
    assert static(workspace(tmp_path, {"db.tf": text}))["status"] == "passed"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('"repo:${var.github_repository}:environment:${var.environment}"', '"*"',
     "subject '*' is not scoped to a repository"),
    ('"repo:${var.github_repository}:environment:${var.environment}"', '"repo:finsight/*"',
     "subject 'repo:finsight/*' matches any repository"),
    ('test     = "StringEquals"\n      variable = "token.actions.githubusercontent.com:sub"',
     'test     = "ArnLike"\n      variable = "token.actions.githubusercontent.com:sub"',
     "token.actions.githubusercontent.com:sub is matched with 'ArnLike', not StringEquals/StringLike"),
])
def test_oidc_trust_that_does_not_pin_the_repository_fails(tmp_path: Path, old: str, new: str, expected: str) -> None:
    main = BUCKET + ROLE.replace(old, new)
    outcome = static(workspace(tmp_path, {"main.tf": main}))
    assert outcome["status"] == "failed"
    line = line_of(main, "githubusercontent.com:sub")
    assert f"{MODULE}/main.tf:{line}: data.aws_iam_policy_document.trust: {expected}" in outcome["summary"]
    assert "[oidc-subject]" in outcome["summary"]


def test_oidc_trust_without_a_subject_condition_fails(tmp_path: Path) -> None:
    role = ROLE.replace(ROLE[ROLE.index("    condition {\n      test     = \"StringEquals\"\n      variable = \"token.actions.githubusercontent.com:sub\""):
                             ROLE.index("  }\n}\n\nresource \"aws_iam_openid")], "")
    outcome = static(workspace(tmp_path, {"main.tf": BUCKET + role}))
    assert outcome["status"] == "failed"
    assert "trusts GitHub Actions OIDC tokens without a condition on token.actions.githubusercontent.com:sub" in outcome["summary"]


def test_inline_jsonencode_trust_with_a_wildcard_fails(tmp_path: Path) -> None:
    role = '''
resource "aws_iam_role" "ci" {
  name = "ci"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = aws_iam_openid_connect_provider.github.arn }
      Condition = {
        StringLike = { "token.actions.githubusercontent.com:sub" = "repo:*" }
      }
    }]
  })
  tags = var.tags
}
'''
    outcome = static(workspace(tmp_path, {"ci.tf": role}))
    assert outcome["status"] == "failed"
    line = line_of(role, "githubusercontent.com:sub")
    assert f"{MODULE}/ci.tf:{line}: aws_iam_role.ci: subject 'repo:*' matches any repository [oidc-subject]" in outcome["summary"]


def test_caller_passing_a_wildcard_subject_fails(tmp_path: Path) -> None:
    stack = STACK.replace("repository  = \"finsight/data-platform\"", "repository  = \"finsight/*\"")
    outcome = static(workspace(tmp_path, stack={"main.tf": stack}), ENV)
    assert outcome["status"] == "failed"
    assert outcome["summary"] == (f"terraform static: {ENV}/main.tf:{line_of(stack, 'github_repository =')}: "
                                  f"module.ledger_exports: {MODULE} "
                                  "(data.aws_iam_policy_document.trust) would trust 'repo:finsight/*:environment:prod' "
                                  "matches any repository [oidc-subject]")


@pytest.mark.parametrize(("subject", "ok"), [
    ("repo:finsight/data-platform:environment:prod", True),
    ("repo:finsight/data-platform:ref:refs/heads/main", True),
    ("repo:finsight/data-platform:*", True),
    ("repo:${var.repository}:environment:${var.environment}", True),
    ("${var.subjects}", True),
    ("*", False),
    ("repo:*", False),
    ("repo:finsight/*", False),
    ("repo:finsight:environment:prod", False),
    ("repo:${var.owner}/*", False),
])
def test_subject_problem(subject: str, ok: bool) -> None:
    assert (subject_problem(subject) is None) == ok


def test_unparseable_file_fails_static(tmp_path: Path) -> None:
    outcome = static(workspace(tmp_path, {"broken.tf": 'resource "aws_sns_topic" "x" {\n  name = \n}\n'}))
    assert outcome["status"] == "failed" and f"{MODULE}/broken.tf" in outcome["summary"] and "[hcl-syntax]" in outcome["summary"]


def test_parsed_trees_outlive_the_run_in_the_handler_cache_and_edits_are_parsed_again(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    cache = tmp_path / "handlers"
    ctx = HandlerContext(root, tmp_path / ".scratch", cache)
    parse_hcl.cache_clear()  # this process may have parsed the same texts in another test
    (first,) = check_static([request(root, MODULE)], ctx)
    assert first["status"] == "passed", first
    with diskcache.Cache(str(cache / "terraform-hcl")) as stored:
        assert len(stored) == len(request(root, MODULE)["files"])  # one tree per file, keyed by its content
    parse_hcl.cache_clear()  # a new worker process: only the folder remembers
    (again,) = check_static([request(root, MODULE)], ctx)
    assert again == first
    (root / MODULE / "broken.tf").write_text('resource "aws_sns_topic" "x" {\n  name = \n}\n', encoding="utf-8")
    parse_hcl.cache_clear()
    (edited,) = check_static([request(root, MODULE)], ctx)
    assert edited["status"] == "failed" and f"{MODULE}/broken.tf" in edited["summary"] and "[hcl-syntax]" in edited["summary"]
    (without,) = check_static([request(root, MODULE)], HandlerContext(root, tmp_path / ".scratch"))
    assert without == edited


# ---------------------------------------------------------------------------------------------
# terraform fmt


@needs_cli
def test_fmt_passes_formatted_and_fails_misformatted_files(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"outputs.tf": 'output "bucket" {\n  value =   aws_s3_bucket.exports.id\n}\n'})
    good, bad = request(root, ENV), request(root, MODULE)
    outcomes = check_fmt([good, bad], HandlerContext(root, tmp_path / ".scratch"))
    assert outcomes[0]["status"] == "passed", outcomes[0]
    assert outcomes[1]["status"] == "failed"
    assert outcomes[1]["summary"] == f"terraform fmt: {MODULE}/outputs.tf:1 is not in canonical format; run terraform fmt"
    assert "-  value =   aws_s3_bucket.exports.id" in outcomes[1]["log"]


@needs_cli
def test_fmt_reports_a_syntax_error_with_its_line_and_keeps_the_others(tmp_path: Path) -> None:
    root = workspace(tmp_path, {"broken.tf": 'output "x" {\n  value = \n}\n'})
    outcomes = check_fmt([request(root, MODULE), request(root, ENV)], HandlerContext(root, tmp_path / ".scratch"))
    assert outcomes[0]["status"] == "failed"
    assert outcomes[0]["summary"] == f"terraform fmt: {MODULE}/broken.tf:2: Invalid expression"
    assert outcomes[1]["status"] == "passed"


def test_fmt_without_the_cli_is_skipped_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = workspace(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    (outcome,) = check_fmt([request(root, MODULE)], HandlerContext(root, tmp_path / ".scratch"))
    assert outcome == {"status": "skipped", "summary": "terraform fmt not run: the terraform CLI is not on PATH", "log": "",
                       "artifacts": {}}
    (outcome,) = check_validate([request(root, MODULE)], HandlerContext(root, tmp_path / ".scratch"))
    assert outcome["status"] == "skipped" and "CLI is not on PATH" in outcome["summary"]


# ---------------------------------------------------------------------------------------------
# terraform validate, offline


@needs_cli
def test_validate_without_providers_is_skipped_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no implicit local mirror
    monkeypatch.setenv("XDG_DATA_DIRS", str(tmp_path / "none"))
    monkeypatch.delenv("TF_PLUGIN_CACHE_DIR", raising=False)
    root = workspace(tmp_path)
    (outcome,) = check_validate([request(root, MODULE)], HandlerContext(root, tmp_path / ".scratch"))
    assert outcome["status"] == "skipped"
    assert outcome["summary"].startswith("providers not installed: terraform init needs registry.terraform.io (hashicorp/aws")


NO_PROVIDER_MODULE = {
    "main.tf": 'locals {\n  name = "finsight-${var.environment}"\n}\n\noutput "name" {\n  value = local.name\n}\n',
    "variables.tf": 'variable "environment" {\n  type = string\n}\n',
}


@needs_cli
def test_validate_runs_offline_when_nothing_needs_downloading(tmp_path: Path) -> None:
    package = "terraform/modules/naming"
    for name, text in NO_PROVIDER_MODULE.items():
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / name).write_text(text, encoding="utf-8")
    (outcome,) = check_validate([request(tmp_path, package)], HandlerContext(tmp_path, tmp_path / ".scratch"))
    assert outcome["status"] == "passed", outcome
    assert outcome["summary"] == f"terraform validate: {package} is valid"
    assert sorted(p.name for p in (tmp_path / package).iterdir()) == ["main.tf", "variables.tf"]  # no .terraform, no lock file

    (tmp_path / package / "main.tf").write_text(NO_PROVIDER_MODULE["main.tf"].replace("var.environment", "var.env"))
    (outcome,) = check_validate([request(tmp_path, package)], HandlerContext(tmp_path, tmp_path / ".scratch"))
    assert outcome["status"] == "failed"
    assert outcome["summary"] == f"terraform validate: {package}/main.tf:2: Reference to undeclared input variable"


@needs_cli
def test_validate_refuses_remote_module_sources(tmp_path: Path) -> None:
    package = "terraform/envs/dev"
    (tmp_path / package).mkdir(parents=True)
    (tmp_path / package / "main.tf").write_text('module "vpc" {\n  source = "terraform-aws-modules/vpc/aws"\n}\n')
    (outcome,) = check_validate([request(tmp_path, package)], HandlerContext(tmp_path, tmp_path / ".scratch"))
    assert outcome["status"] == "skipped" and "remote module sources need the network" in outcome["summary"]


@needs_cli
def test_validate_with_a_provider_on_disk_installs_it_from_there_only(tmp_path: Path) -> None:
    # a provider directory in the unpacked mirror layout; its binary is a stub that cannot start, so
    # init succeeds offline from -plugin-dir and validate reports the provider, never "passed"
    plugins = tmp_path / "mirror"
    binary = plugins / "registry.terraform.io/hashicorp/null/3.2.2/linux_amd64/terraform-provider-null_v3.2.2_x5"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    package = "terraform/modules/stub"
    (tmp_path / package).mkdir(parents=True)
    (tmp_path / package / "main.tf").write_text('resource "null_resource" "x" {}\n')
    if os.uname().machine not in ("x86_64", "amd64"):
        pytest.skip("the stub provider is laid out for linux_amd64")
    (outcome,) = check_validate([request(tmp_path, package, plugin_dirs=[str(plugins)])], HandlerContext(tmp_path, tmp_path / ".s"))
    assert outcome["status"] == "skipped", outcome
    assert outcome["summary"].startswith("providers not usable: the installed provider could not be started")
    assert sorted(p.name for p in (tmp_path / package).iterdir()) == ["main.tf"]


# ---------------------------------------------------------------------------------------------
# the rule's actions


def test_actions_describe_the_three_checks() -> None:
    files = {f"{MODULE}/BUILD": "terraform_module()\n", f"{MODULE}/main.tf": BUCKET, f"{MODULE}/prod.tfvars": 'a = "b"\n',
             f"{MODULE}/README.md": "Ledger exports.\n"}
    target = Target(Label(MODULE, "ledger_exports"), "terraform_module", "terraform", tuple(sorted(files)[1:]))
    settings = FrozenDict({"required_tags": ("Project",), "plugin_dirs": ("tools/terraform-plugins",)})
    ctx = RuleContext(MemorySnapshot(files), Settings(), settings)
    fmt, validate, static_ = rule.actions(target, ctx)
    assert [(a.name, a.handler, a.pool, a.batch) for a in (fmt, validate, static_)] == [
        ("fmt", "rules.checks.terraform:check_fmt", "terraform", "terraform-fmt"),
        ("validate", "rules.checks.terraform:check_validate", "terraform", None),
        ("static", "rules.checks.terraform:check_static", "terraform", "terraform-static"),
    ]
    assert fmt.toolchain == validate.toolchain == ("cmd:terraform version",) and validate.env == ("TF_PLUGIN_CACHE_DIR",)
    assert thaw(fmt.request)["files"] == [f"{MODULE}/main.tf", f"{MODULE}/prod.tfvars"]
    assert thaw(validate.request)["plugin_dirs"] == ["tools/terraform-plugins"]
    assert thaw(static_.request)["required_tags"] == ["Project"]
    assert thaw(static_.request)["sse_algorithms"] == ["aws:kms", "aws:kms:dsse", "AES256"]


# ---------------------------------------------------------------------------------------------
# the real platform


@pytest.fixture(scope="module")
def platform_requests() -> dict[str, list[dict]]:
    with Session.open(REPO, use_cache=False) as session:
        graph = session.graph()
        ctx = RuleContext(session.snapshot(), session.workspace.settings, session.workspace.settings.rule_settings("terraform"))
        actions = [a for t in graph.targets.values() if t.kind == "terraform_module" for a in rule.actions(t, ctx)]
    by_name: dict[str, list[dict]] = {}
    for action in actions:
        by_name.setdefault(action.name, []).append(thaw(action.request))
    return by_name


def test_platform_static_checks_pass(platform_requests: dict[str, list[dict]], tmp_path: Path) -> None:
    requests = platform_requests["static"]
    assert len(requests) >= 15
    outcomes = check_static(requests, HandlerContext(REPO, tmp_path))
    assert [(r["package"], o["summary"]) for r, o in zip(requests, outcomes) if o["status"] != "passed"] == []


@needs_cli
def test_platform_fmt_passes(platform_requests: dict[str, list[dict]], tmp_path: Path) -> None:
    outcomes = check_fmt(platform_requests["fmt"], HandlerContext(REPO, tmp_path))
    assert [o["summary"] for o in outcomes if o["status"] != "passed"] == []


@needs_cli
def test_platform_validate_is_never_passed_without_providers(platform_requests: dict[str, list[dict]], tmp_path: Path) -> None:
    outcomes = check_validate(platform_requests["validate"], HandlerContext(REPO, tmp_path))
    for outcome in outcomes:
        assert outcome["status"] in ("passed", "skipped")
        if outcome["status"] == "skipped":
            assert outcome["summary"].startswith("providers not installed: terraform init needs registry.terraform.io")


def test_check_module_reads_the_platform_oidc_role() -> None:
    module = read_module(REPO, "terraform/modules/github_oidc_role")
    assert check_module(REPO, module) == []
    assert [b.address for b in module.of("data")][:1] == ["data.aws_iam_policy_document.trust"]
