"""Static policy on parsed Terraform: what the platform promises about its AWS resources.

Each rule reads one module folder (and, for module calls with a local ``source``, the called
module's variables and trust policies) and returns ``Violation``s naming the file, the line, the
resource address and the rule:

``s3-encryption``     every ``aws_s3_bucket`` has a server-side encryption configuration (an allowed
                      ``sse_algorithm``), inline or as ``aws_s3_bucket_server_side_encryption_configuration``;
``s3-public-access``  every ``aws_s3_bucket`` has an ``aws_s3_bucket_public_access_block`` with the four
                      flags literally ``true``;
``required-tags``     every taggable AWS resource (and every call of a module that takes ``tags``) carries
                      the required tags: listed literally, through ``local.<name>`` maps, through a
                      ``var.<name>`` whose ``validation`` names them (``tags = var.tags``,
                      ``merge(var.tags, {...})``), or through the root stack's provider ``default_tags``;
``plaintext-secret``  no ``aws_secretsmanager_secret_version`` value (it lands in the state), no literal
                      value for an attribute, variable default, local or tfvars entry named like a secret;
``oidc-subject``      every trust policy statement for GitHub Actions' OIDC tokens restricts
                      ``token.actions.githubusercontent.com:sub`` with StringEquals/StringLike to one
                      repository (``repo:<owner>/<name>:...``); subjects passed in as variables are checked
                      where the module is called, with the caller's literal arguments;
``hcl-syntax``        the file parses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rules.checks.terraform_hcl import (
    Block,
    Module,
    as_list,
    is_literal,
    local_module_sources,
    parse_hcl,
    read_module,
    refers_to,
)

__all__ = [
    "DEFAULT_REQUIRED_TAGS",
    "DEFAULT_SSE_ALGORITHMS",
    "UNTAGGABLE",
    "Violation",
    "check_module",
    "subject_problem",
]

DEFAULT_REQUIRED_TAGS = ("Project", "Environment", "Owner", "DataClassification")
DEFAULT_SSE_ALGORITHMS = ("aws:kms", "aws:kms:dsse", "AES256")
PUBLIC_ACCESS_FLAGS = ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
# AWS resource types the provider cannot tag (a `tags` argument is an error there); extend with
# the setting [rules.terraform] untaggable_types.
UNTAGGABLE = frozenset({
    "aws_s3_bucket_ownership_controls", "aws_s3_bucket_public_access_block", "aws_s3_bucket_versioning",
    "aws_s3_bucket_server_side_encryption_configuration", "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_object_lock_configuration", "aws_s3_bucket_policy", "aws_s3_bucket_logging",
    "aws_s3_bucket_notification", "aws_s3_bucket_acl", "aws_s3_bucket_cors_configuration",
    "aws_s3_bucket_replication_configuration", "aws_s3_bucket_website_configuration",
    "aws_s3_bucket_intelligent_tiering_configuration", "aws_s3_bucket_accelerate_configuration",
    "aws_s3_account_public_access_block", "aws_kms_alias", "aws_kms_grant", "aws_iam_role_policy",
    "aws_iam_role_policy_attachment", "aws_iam_user_policy", "aws_iam_user_policy_attachment", "aws_iam_group",
    "aws_iam_group_policy", "aws_iam_group_policy_attachment", "aws_iam_group_membership",
    "aws_iam_policy_attachment", "aws_iam_user_group_membership", "aws_iam_access_key",
    "aws_iam_account_password_policy", "aws_msk_configuration", "aws_msk_scram_secret_association",
    "aws_secretsmanager_secret_version", "aws_secretsmanager_secret_policy", "aws_secretsmanager_secret_rotation",
    "aws_security_group_rule", "aws_route", "aws_route_table_association", "aws_lambda_permission",
    "aws_cloudwatch_log_subscription_filter", "aws_cloudwatch_log_resource_policy", "aws_cloudwatch_log_metric_filter",
    "aws_glue_catalog_table", "aws_lakeformation_permissions", "aws_sns_topic_subscription", "aws_sns_topic_policy",
    "aws_sqs_queue_policy", "aws_ecr_lifecycle_policy", "aws_ecr_repository_policy", "aws_emrserverless_application_policy",
})

_SECRET_NAME = re.compile(
    r"(?i)^(?:[\w-]*[_-])?(password|passwd|secret|secret_key|secret_access_key|access_key|token|auth_token"
    r"|api_key|apikey|private_key|client_secret)$"
)
_REF = re.compile(r"\b(var|local)\.([A-Za-z_][\w-]*)")
_OBJECT_KEY = re.compile(r'[{,]\s*"?([A-Za-z_][\w.-]*)"?\s*=(?![=>])')
_GITHUB_ISSUER = "token.actions.githubusercontent.com"
_SUBJECT = _GITHUB_ISSUER + ":sub"
_SUBJECT_TEST = re.compile(r"(ForAnyValue:|ForAllValues:)?String(Equals|Like)(IgnoreCase)?")
_INTERPOLATION = re.compile(r"\$\{[^}]*\}")
_WHOLE_VAR = re.compile(r"\$\{var\.([A-Za-z_][\w-]*)\}")
_WHOLE_LOCAL = re.compile(r"\$\{local\.([A-Za-z_][\w-]*)\}")


@dataclass(frozen=True, slots=True, order=True)
class Violation:
    """One broken rule: where (file, line, resource address), which rule, and what is wrong."""

    file: str
    line: int | None
    address: str
    rule: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.address}: {self.message} [{self.rule}]"


def check_module(root: Path, module: Module, settings: Mapping[str, Any] | None = None) -> list[Violation]:
    """Every violation of the policy in one parsed module folder, sorted by file and line."""
    settings = settings or {}
    required = tuple(settings.get("required_tags") or DEFAULT_REQUIRED_TAGS)
    untaggable = UNTAGGABLE | frozenset(settings.get("untaggable_types") or ())
    algorithms = frozenset(settings.get("sse_algorithms") or DEFAULT_SSE_ALGORITHMS)
    out = [Violation(file, line, file.rpartition("/")[2], "hcl-syntax",
                     message if message.startswith("cannot read") else f"does not parse: {message}")
           for file, line, message in module.errors]
    out += _bucket_rules(module, algorithms)
    out += _tag_rules(root, module, required, untaggable)
    out += _secret_rules(module)
    out += _oidc_rules(root, module)
    return sorted(set(out), key=lambda v: (v.file, v.line or 0, v.address, v.rule, v.message))


def _violation(module: Module, block: Block, rule: str, message: str, key: str | None = None, *,
               near: str | None = None) -> Violation:
    """A violation at the block's ``key =`` line, or the first line holding ``near``, or the block's line."""
    line = module.attribute_line(block, key) if key else module.line_containing(block, near) if near else block.line
    return Violation(block.file, line, block.address, rule, message)


# ---------------------------------------------------------------------------------------------
# buckets


def _bucket_rules(module: Module, algorithms: frozenset[str]) -> Iterator[Violation]:
    for bucket in module.of("resource", "aws_s3_bucket"):
        ref = bucket.address
        inline = as_list(bucket.body.get("server_side_encryption_configuration"))
        configs = [c for c in module.of("resource", "aws_s3_bucket_server_side_encryption_configuration") if refers_to(c.body, ref)]
        if not inline and not configs:
            yield _violation(module, bucket, "s3-encryption", "bucket has no aws_s3_bucket_server_side_encryption_configuration")
        for config, body in [(bucket, c) for c in inline] + [(c, c.body) for c in configs]:
            found = [d.get("sse_algorithm") for rule in as_list(body.get("rule")) if isinstance(rule, dict)
                     for d in as_list(rule.get("apply_server_side_encryption_by_default")) if isinstance(d, dict)]
            if not found:
                yield _violation(module, config, "s3-encryption", f"no apply_server_side_encryption_by_default rule for {ref}")
            for algorithm in found:
                if is_literal(algorithm) and algorithm not in algorithms:
                    yield _violation(module, config, "s3-encryption",
                                     f"sse_algorithm {algorithm!r} for {ref} is not one of {', '.join(sorted(algorithms))}",
                                     "sse_algorithm")
        blocks = [p for p in module.of("resource", "aws_s3_bucket_public_access_block") if refers_to(p.body, ref)]
        if not blocks:
            yield _violation(module, bucket, "s3-public-access", "bucket has no aws_s3_bucket_public_access_block")
        for block in blocks:
            unset = [flag for flag in PUBLIC_ACCESS_FLAGS if block.body.get(flag) is not True]
            if unset:
                yield _violation(module, block, "s3-public-access",
                                 f"public access of {ref} is not blocked: set " + ", ".join(f"{f} = true" for f in unset),
                                 unset[0])


# ---------------------------------------------------------------------------------------------
# tags


def _tag_keys(value: Any, module: Module, required: tuple[str, ...], seen: frozenset[str] = frozenset()) -> set[str]:
    """The tag keys a `tags` value is sure to carry (literal keys, validated variables, local maps)."""
    if isinstance(value, Mapping):
        return {str(k) for k in value}
    if not isinstance(value, str):
        return set()
    keys = set(_OBJECT_KEY.findall(value))
    for kind, name in _REF.findall(value):
        if kind == "var":
            keys |= _validated_keys(module, name, required)
        elif name not in seen:
            keys |= _tag_keys(module.locals.get(name), module, required, seen | {name})
    return keys


def _validated_keys(module: Module, variable: str, required: tuple[str, ...]) -> set[str]:
    block = module.variable(variable)
    if block is None:
        return set()
    text = " ".join(str(v.get("condition", "")) for v in as_list(block.body.get("validation")) if isinstance(v, dict))
    return {tag for tag in required if re.search(rf"\b{re.escape(tag)}\b", text)}


def _default_tags(module: Module, required: tuple[str, ...]) -> set[str]:
    found: set[str] | None = None
    for provider in module.of("provider", "aws"):
        keys: set[str] = set()
        for default in as_list(provider.body.get("default_tags")):
            if isinstance(default, dict):
                keys |= _tag_keys(default.get("tags"), module, required)
        found = keys if found is None else found & keys
    return found or set()


def _tag_rules(root: Path, module: Module, required: tuple[str, ...], untaggable: frozenset[str]) -> Iterator[Violation]:
    defaults = _default_tags(module, required)
    for block in module.of("resource"):
        if not block.type.startswith("aws_") or block.type in untaggable:
            continue
        have = defaults | _tag_keys(block.body.get("tags"), module, required)
        missing = [tag for tag in required if tag not in have]
        if missing:
            how = "has no tags" if "tags" not in block.body else "tags do not surely carry"
            yield _violation(module, block, "required-tags",
                             f"{how} {', '.join(missing)} (list them, or use var.tags validated to require them)",
                             "tags" if "tags" in block.body else None)
    for name, folder in local_module_sources(module).items():
        if not (root / folder).is_dir():
            continue
        if read_module(root, folder).variable("tags") is None:
            continue
        call = next(b for b in module.of("module") if b.name == name)
        missing = [tag for tag in required if tag not in _tag_keys(call.body.get("tags"), module, required)]
        if missing:
            yield _violation(module, call, "required-tags", f"call of {folder} does not pass tags {', '.join(missing)}",
                             "tags" if "tags" in call.body else None)


# ---------------------------------------------------------------------------------------------
# secrets


def _secret_attributes(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(dotted path, key) of every literal value whose key is named like a secret."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if _SECRET_NAME.match(str(key)) and is_literal(inner):
                yield f"{path}{key}", str(key)
            yield from _secret_attributes(inner, f"{path}{key}.")
    elif isinstance(value, list):
        for inner in value:
            yield from _secret_attributes(inner, path)


def _secret_rules(module: Module) -> Iterator[Violation]:
    for block in module.of("resource", "aws_secretsmanager_secret_version"):
        for key in ("secret_string", "secret_binary"):
            if key in block.body:
                yield _violation(module, block, "plaintext-secret",
                                 f"{key} puts the secret value in the Terraform state: set it outside Terraform "
                                 "(aws secretsmanager put-secret-value) or let the owning service rotate it", key)
    for block in module.of("resource", "aws_ssm_parameter"):
        if block.body.get("type") == "SecureString" and is_literal(block.body.get("value")):
            yield _violation(module, block, "plaintext-secret", "SecureString parameter with a literal value", "value")
    for kind in ("resource", "data", "provider", "module"):
        for block in module.of(kind):
            for path, key in _secret_attributes(block.body):
                yield _violation(module, block, "plaintext-secret", f"{path} is a literal value in the source", key)
    for block in module.of("variable"):
        if _SECRET_NAME.match(block.name) and is_literal(block.body.get("default")):
            yield _violation(module, block, "plaintext-secret", "variable named like a secret has a literal default", "default")
    for name, value in module.locals.items():
        file, line = module.local_lines.get(name, ("", None))
        found = [(f"local.{name}", name)] if _SECRET_NAME.match(name) and is_literal(value) else []
        for path, _ in found + list(_secret_attributes(value, f"local.{name}.")):
            yield Violation(file, line, path, "plaintext-secret", "literal secret value in locals")
    for file, tree in module.tfvars:
        for path, key in _secret_attributes(tree):
            found = re.compile(rf"^[ \t]*{re.escape(key)}\s*=", re.M).search(module.texts.get(file, ""))
            line = module.texts[file].count("\n", 0, found.start()) + 1 if found else None
            yield Violation(file, line, path, "plaintext-secret", "literal secret value in a variables file")


# ---------------------------------------------------------------------------------------------
# GitHub OIDC trust


@dataclass(frozen=True, slots=True)
class _Statement:
    actions: tuple[str, ...]
    principals: str
    conditions: tuple[tuple[str, str, tuple[Any, ...]], ...]  # (test, variable, values)


def _document(value: Any) -> Mapping[str, Any] | None:
    """An inline policy document: ``jsonencode({...})``, a heredoc or a JSON string."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    try:
        if text.startswith("${jsonencode(") and text.endswith(")}"):
            parsed = parse_hcl("document = " + text[len("${jsonencode("):-2] + "\n").get("document")
            return parsed if isinstance(parsed, dict) else None
        if text.startswith("<<"):
            text = text.split("\n", 1)[1].rsplit("\n", 1)[0] if "\n" in text else ""
        parsed = json.loads(text)
        return parsed if isinstance(parsed, dict) else None
    except Exception:  # not a document we can read: nothing to check here
        return None


def _statements(block: Block) -> Iterator[_Statement]:
    if block.kind == "data" and block.type == "aws_iam_policy_document":
        bodies = list(as_list(block.body.get("statement")))
        for dynamic in as_list(block.body.get("dynamic")):
            if isinstance(dynamic, dict) and isinstance(dynamic.get("statement"), dict):
                bodies += as_list(dynamic["statement"].get("content"))
        for body in bodies:
            if not isinstance(body, dict):
                continue
            found = tuple((str(c.get("test", "")), str(c.get("variable", "")), tuple(as_list(c.get("values"))))
                          for c in as_list(body.get("condition")) if isinstance(c, dict))
            yield _Statement(tuple(map(str, as_list(body.get("actions")))), str(body.get("principals", "")), found)
    elif block.kind == "resource" and block.type == "aws_iam_role":
        document = _document(block.body.get("assume_role_policy")) or {}
        for body in as_list(document.get("Statement")):
            if not isinstance(body, dict):
                continue
            found = tuple((str(test), str(variable), tuple(as_list(values)))
                          for test, inner in (body.get("Condition") or {}).items() if isinstance(inner, dict)
                          for variable, values in inner.items())
            yield _Statement(tuple(map(str, as_list(body.get("Action")))), str(body.get("Principal", "")), found)


def _github_trusts(module: Module) -> Iterator[tuple[Block, _Statement]]:
    providers = [b.address for b in module.of("resource", "aws_iam_openid_connect_provider")
                 if _GITHUB_ISSUER in str(b.body.get("url", ""))]
    for block in module.of("data") + module.of("resource"):
        for statement in _statements(block):
            if not any(a in ("sts:AssumeRoleWithWebIdentity", "sts:*", "*") for a in statement.actions):
                continue
            principal = statement.principals
            if (_GITHUB_ISSUER in principal or re.search("github", principal, re.I) or any(p in principal for p in providers)
                    or any(variable.startswith(_GITHUB_ISSUER) for _, variable, _ in statement.conditions)):
                yield block, statement


def subject_problem(subject: str) -> str | None:
    """Why a GitHub OIDC subject does not pin one repository (None when it does, or is a variable checked by callers)."""
    if _WHOLE_VAR.fullmatch(subject) or _WHOLE_LOCAL.fullmatch(subject):
        return None
    shape = _INTERPOLATION.sub("VAR", subject)
    if not shape.startswith("repo:"):
        return f"subject {subject!r} is not scoped to a repository (expected repo:<owner>/<name>:...)"
    repository = shape[len("repo:"):].split(":", 1)[0]
    if not repository or "*" in repository or "?" in repository:
        return f"subject {subject!r} matches any repository"
    if "VAR" not in repository and "/" not in repository:
        return f"subject {subject!r} does not name a repository as <owner>/<name>"
    return None


def _oidc_rules(root: Path, module: Module) -> Iterator[Violation]:
    for block, statement in _github_trusts(module):
        subjects = [(test, values) for test, variable, values in statement.conditions if variable == _SUBJECT]
        if not subjects:
            yield _violation(module, block, "oidc-subject",
                             f"trusts GitHub Actions OIDC tokens without a condition on {_SUBJECT}: any repository can assume it")
        for test, values in subjects:
            if not _SUBJECT_TEST.fullmatch(test):
                yield _violation(module, block, "oidc-subject", f"{_SUBJECT} is matched with {test!r}, not StringEquals/StringLike",
                                 near=_SUBJECT)
            if not values:
                yield _violation(module, block, "oidc-subject", f"{_SUBJECT} condition has no values", near=_SUBJECT)
            for value in values:
                problem = subject_problem(str(value))
                if problem:
                    yield _violation(module, block, "oidc-subject", problem, near=_SUBJECT)
    yield from _caller_subjects(root, module)


def _literal_strings(value: Any, module: Module) -> list[str] | None:
    """The literal string(s) an argument passes, following ``local.<name>``; None when not known here."""
    if isinstance(value, str):
        local = _WHOLE_LOCAL.fullmatch(value)
        if local:
            return _literal_strings(module.locals.get(local[1]), module)
        return [value] if "${" not in value else None
    if isinstance(value, list):
        parts = [_literal_strings(v, module) for v in value]
        return None if any(p is None for p in parts) else [s for p in parts for s in p or ()]
    return None


def _caller_subjects(root: Path, module: Module) -> Iterator[Violation]:
    """Subjects a called module takes from its variables, rendered with this caller's literal arguments."""
    for name, folder in local_module_sources(module).items():
        if not (root / folder).is_dir():
            continue
        call = next(b for b in module.of("module") if b.name == name)
        for block, statement in _github_trusts(read_module(root, folder)):
            for _, variable, values in statement.conditions:
                if variable != _SUBJECT:
                    continue
                for value in map(str, values):
                    for rendered in _render(value, call, module):
                        problem = subject_problem(rendered)
                        if problem:
                            yield _violation(module, call, "oidc-subject",
                                             f"{folder} ({block.address}) would trust {problem.removeprefix('subject ')}",
                                             next((k for k in _WHOLE_VAR.findall(value) if k in call.body), None))


def _render(template: str, call: Block, module: Module) -> list[str]:
    """The subjects a template such as ``repo:${var.repository}:environment:${var.environment}`` becomes."""
    whole = _WHOLE_VAR.fullmatch(template)
    if whole:
        return _literal_strings(call.body.get(whole[1]), module) or []
    rendered = template
    for reference in set(_WHOLE_VAR.findall(template)):
        values = _literal_strings(call.body.get(reference), module)
        if values is None or len(values) != 1:
            return []
        rendered = rendered.replace("${var." + reference + "}", values[0])
    return [] if "${" in rendered else [rendered]
