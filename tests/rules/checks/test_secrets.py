"""The cross-cutting ``secrets`` check: the rule set, its allowlist, masking, and the real platform.

Every fake secret here is assembled at run time (prefixes split, bodies drawn from a seeded random
generator), so this file itself holds nothing the scanner would report; the last test proves it by
scanning every tracked file of the repository.
"""

from __future__ import annotations

import random
import string
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphbuild.labels import Label
from graphbuild.rule import Origin, RuleContext, Target
from graphbuild.run.action import HandlerContext
from graphbuild.session import Session
from graphbuild.testing import MemorySnapshot, Settings
from graphbuild.values import FrozenDict, thaw
from rules.checks.secrets import (
    PRAGMA,
    RULES,
    Finding,
    _matches,
    check_secrets,
    entropy,
    is_placeholder,
    mask,
    scan_bytes,
    scan_text,
)
from rules.secrets import SecretScan, check

REPO = Path(__file__).resolve().parents[3]
_random = random.Random(4242)
ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase + string.digits
B64 = ALNUM + "+/"


def draw(alphabet: str, n: int) -> str:
    """A random body with at least one upper, lower and digit where the alphabet has them."""
    while True:
        body = "".join(_random.choice(alphabet) for _ in range(n))
        if not is_placeholder(body) and all(
            any(c in group for c in body) for group in (string.ascii_uppercase, string.ascii_lowercase, string.digits)
            if any(c in group for c in alphabet)
        ):
            return body


KEY_ID = "AK" + "IA" + draw(UPPER, 16)
SESSION_KEY_ID = "AS" + "IA" + draw(UPPER, 16)
SECRET_KEY = draw(B64, 40)
PEM_BODY = "\n".join(draw(B64, 64) for _ in range(4))
BEGIN = "-----BEG" + "IN "
PASSWORD = draw(ALNUM, 20)
GITHUB = "gh" + "p_" + draw(ALNUM, 36)
SLACK = "xo" + "xb-" + draw(string.digits, 12) + "-" + draw(string.digits, 13) + "-" + draw(ALNUM, 24)
WEBHOOK = "https://hooks.slack" + ".com/services/T" + draw(UPPER, 10) + "/B" + draw(UPPER, 10) + "/" + draw(ALNUM, 24)
GENERIC = draw(ALNUM, 32)

# (rule expected, sample): each sample is one realistic way the secret gets committed
TRUE_POSITIVES = [
    ("aws-access-key-id", f"aws_access_key_id = {KEY_ID}\n"),
    ("aws-access-key-id", f'{{"AccessKeyId": "{SESSION_KEY_ID}", "Expiration": "2025-01-01T00:00:00Z"}}\n'),
    ("aws-secret-access-key", f"[default]\naws_secret_access_key = {SECRET_KEY}\n"),
    ("aws-secret-access-key", f"User name,Access key ID,Secret access key\nci-bot,{KEY_ID},{SECRET_KEY}\n"),
    ("private-key", f"{BEGIN}RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----\n"),
    ("private-key", f'{{"private_key": "{BEGIN}PRIVATE KEY-----\\n{PEM_BODY.replace(chr(10), "")}\\n-----END PRIVATE KEY-----\\n"}}\n'),
    ("private-key", f"{BEGIN}OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"),
    ("url-password", f'SQL_ALCHEMY_CONN = "postgresql+psycopg2://airflow:{PASSWORD}@metadata-db.internal:5432/airflow"\n'),
    ("url-password", f"broker_url: amqp://etl:{PASSWORD}@rabbitmq:5672//\n"),
    ("url-password", "DATABASE_URL=postgres://user:" + "p!ss#word" + "@host/db\n"),  # raw '!' and '#' (item 13)
    ("url-password", "url = 'postgres://etl:" + "p@ss!" + PASSWORD[:6] + "@db.internal:5432/ledger'\n"),  # raw '@'
    ("url-password", "REDIS_URL=redis://:" + "s3cr3t!" + PASSWORD[:6] + "@cache:6379/0\n"),  # no user name
    ("github-token", f"GITHUB_TOKEN={GITHUB}\n"),
    ("github-token", f"remote = https://x-access-token:{GITHUB}@github.com/finsight/data-platform.git\n"),
    ("slack-token", f'client = WebClient(token="{SLACK}")\n'),
    ("slack-token", f"webhook_url: {WEBHOOK}\n"),
    ("generic-secret", f'api_key = "{GENERIC}"\n'),
    ("generic-secret", f'{{"client_secret": "{GENERIC}"}}\n'),
    ("generic-secret", f"snowflake:\n  password: {GENERIC}\n"),
    ("generic-secret", f"export DB_PASSWORD='{GENERIC}'\n"),
    ("generic-secret", 'api_key = "' + GENERIC[:12] + "example" + GENERIC[12:] + '"\n'),  # "example" inside (item 13)
    ("aws-access-key-id", "aws_access_key_id = " + KEY_ID[:13] + "EXAMPLE\n"),  # not AWS's documented key
]

# (rule that must not fire, sample): documentation values, references, templates, near misses
FALSE_POSITIVES = [
    ("aws-access-key-id", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE  # from the AWS documentation\n"),
    ("aws-access-key-id", "key = " + "AK" + "IA" + draw(UPPER, 15) + "\n"),  # one character short
    ("aws-access-key-id", "id = X" + "AK" + "IA" + draw(UPPER, 16) + "\n"),  # inside a longer word
    ("aws-secret-access-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"),
    ("aws-secret-access-key", "commit = " + draw("0123456789abcdef", 40) + "\n"),
    ("private-key", f"Paste the key, starting with {BEGIN}RSA PRIVATE KEY-----, into the secret.\n"),
    ("private-key", f"{BEGIN}PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n"),
    ("private-key", f"{BEGIN}PUBLIC KEY-----\n{PEM_BODY}\n-----END PUBLIC KEY-----\n"),
    ("url-password", "conn = 'postgresql://etl:${DB_PASSWORD}@db.internal:5432/ledger'\n"),
    ("url-password", "uri: postgresql://etl:{{ conn.password }}@db.internal/ledger\n"),
    ("url-password", 'url = f"postgresql://{user}:{password}@{host}:5432/{database}"\n'),
    ("url-password", "See postgresql://user:password@host:5432/database for the format.\n"),
    ("url-password", "redis://:$REDIS_PASSWORD@cache:6379/0\n"),
    ("url-password", "https://artifacts.internal:8443/releases/graphbuild@1.2.0\n"),
    ("url-password", "git clone git@github.com:finsight/data-platform.git\n"),
    ("github-token", "ref = " + "gh" + "p_" + draw(ALNUM, 20) + "\n"),  # too short
    ("github-token", "Classic tokens start with gh" + "p_ and fine-grained ones with github_" + "pat_.\n"),
    ("github-token", "token = " + "gh" + "p_" + "x" * 36 + "\n"),
    ("slack-token", "https://hooks.slack" + ".com/services/T00000000/B00000000/" + "X" * 24 + "\n"),
    ("slack-token", "prefix = " + "xo" + "xb-\n"),
    ("generic-secret", 'password = "hunter2"\n'),
    ("generic-secret", 'token_url = "https://oauth2.googleapis.com/token"\n'),
    ("generic-secret", 'api_key = "{{ var.value.partner_api_key }}"\n'),
    ("generic-secret", 'SECRET = "finsight/prod/airflow/connections/snowflake_default"\n'),
    ("generic-secret", 'password = os.environ["SNOWFLAKE_PASSWORD"]\n'),
    ("generic-secret", "password: \"{{ env_var('DBT_SNOWFLAKE_PASSWORD') }}\"\n"),
    ("generic-secret", 'client_secret: "changeme-before-first-deploy"\n'),
    ("generic-secret", "token: DBT_ENV_SECRET_GIT_CREDENTIAL\n"),
    ("generic-secret", 'password = "' + "ab" * 10 + '1"\n'),  # low entropy
    ("generic-secret", 'if token == "' + GENERIC + '":\n'),
    ("generic-secret", f'api_key = "{GENERIC}"  # {PRAGMA}: the partner sandbox test vector\n'),
]


@pytest.mark.parametrize(("rule", "sample"), TRUE_POSITIVES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(TRUE_POSITIVES)])
def test_true_positive(rule: str, sample: str) -> None:
    findings = scan_text(sample, "sample.txt")
    assert rule in {f.rule for f in findings}, findings
    for finding in findings:
        assert finding.path == "sample.txt" and 1 <= finding.line <= sample.count("\n") + 1


@pytest.mark.parametrize(("rule", "sample"), FALSE_POSITIVES, ids=[f"{r}-{i}" for i, (r, _) in enumerate(FALSE_POSITIVES)])
def test_false_positive(rule: str, sample: str) -> None:
    assert scan_text(sample, "sample.txt") == []


def test_every_rule_has_true_and_false_samples() -> None:
    ids = {rule.id for rule in RULES}
    assert ids == {r for r, _ in TRUE_POSITIVES} == {r for r, _ in FALSE_POSITIVES}


def test_finding_names_the_line_and_masks_the_secret() -> None:
    text = "# credentials of the nightly export\nregion = eu-west-1\n" + f"aws_access_key_id = {KEY_ID}\n"
    (finding,) = scan_text(text, "dags/finance/export.py")
    assert finding == Finding("dags/finance/export.py", 3, "aws-access-key-id", KEY_ID[:4] + "*" * 16)
    assert str(finding) == f"dags/finance/export.py:3: aws-access-key-id: {KEY_ID[:4]}{'*' * 16}"


def test_private_key_is_reported_at_its_header() -> None:
    text = f"# deploy key\n{BEGIN}OPENSSH PRIVATE KEY-----\n{PEM_BODY}\n-----END OPENSSH PRIVATE KEY-----\n"
    (finding,) = scan_text(text)
    assert (finding.line, finding.rule) == (2, "private-key")
    assert finding.masked == "-----BEGIN OPENSSH PRIVATE KEY----- " + PEM_BODY[:4] + "*" * 16


def test_generic_finding_shows_the_key_not_the_value() -> None:
    (finding,) = scan_text(f'partner_api_key = "{GENERIC}"\n')
    assert finding.masked.startswith("partner_api_key=" + GENERIC[:4]) and GENERIC not in str(finding)


def test_entropy() -> None:
    assert entropy("") == 0 and entropy("aaaa") == 0 and entropy("abcd") == 2.0


# ---------------------------------------------------------------------------------------------
# invariants


SECRETS = st.one_of(
    st.tuples(st.sampled_from(["AK" + "IA", "AS" + "IA"]), st.text(UPPER, min_size=16, max_size=16)),
    st.tuples(st.sampled_from(["gh" + "p_", "gh" + "s_", "gh" + "o_"]), st.text(ALNUM, min_size=36, max_size=40)),
    st.tuples(st.just("xo" + "xb-"), st.text(ALNUM + "-", min_size=20, max_size=40)),
).map("".join).filter(lambda s: not is_placeholder(s))
FRAGMENTS = st.sampled_from([
    "AKIA", "ASIA", "-----BEGIN RSA PRIVATE KEY-----\n", "://", ":", "@", "password = ", "token: ", '"', "'",
    "\n", " ", "ghp_", "xoxb-", "aws_secret_access_key=", "https://hooks.slack.com/services/", "${", "{{", "=",
])
PLAIN = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
TEXT = st.lists(st.one_of(FRAGMENTS, st.text(max_size=24), st.from_regex(r"[A-Za-z0-9+/]{8,44}", fullmatch=True)),
                max_size=30).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    for finding in scan_bytes(data, "blob.bin"):
        assert finding.line >= 1


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(TEXT)
def test_no_match_is_ever_reported_unmasked(text: str) -> None:
    for line, rule, secret, masked in _matches(text):
        assert secret not in masked, (rule, masked)
        finding = Finding("f.txt", line, rule, masked)
        if len(secret) >= 8:  # a shorter string may occur in the path or the rule's name by chance
            assert secret not in str(finding) and secret not in repr(finding)


@settings(max_examples=150, deadline=None)
@given(secret=SECRETS, before=PLAIN, after=PLAIN)
def test_an_embedded_secret_is_found_and_masked(secret: str, before: str, after: str) -> None:
    text = f"{before}\nvalue = {secret}\n{after}"
    line = before.count("\n") + 2
    findings = scan_text(text, "f.txt")
    assert any(f.line == line and secret not in str(f) for f in findings), findings
    outcome = _handler_outcome({"f.txt": text})
    assert outcome["status"] == "failed"
    assert secret not in outcome["summary"] and secret not in outcome["log"]


@given(st.text(min_size=1, max_size=64))
def test_mask_never_contains_the_secret(secret: str) -> None:
    assert secret not in mask(secret)


# ---------------------------------------------------------------------------------------------
# the handler and the check's action


def _handler_outcome(files: dict[str, str | bytes], **request: object) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for path, content in files.items():
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_bytes(content.encode() if isinstance(content, str) else content)
        (outcome,) = check_secrets([{"sources": sorted(files), **request}], HandlerContext(root, root / ".scratch"))
        return outcome


def test_committed_fake_key_fails_for_the_right_reason() -> None:
    outcome = _handler_outcome({
        "dags/finance/ledger_export.py": "from common.dbt import dbt_task\n\n" + f'AWS_KEY = "{KEY_ID}"\n',
        "dags/finance/README.md": "Ledger exports.\n",
    })
    assert outcome["status"] == "failed"
    assert outcome["summary"].startswith("secret found: dags/finance/ledger_export.py:3: aws-access-key-id")
    assert KEY_ID not in outcome["summary"] + outcome["log"]


def test_clean_files_pass_and_binary_files_are_scanned_as_bytes() -> None:
    outcome = _handler_outcome({"spark/jobs/x/main.py": "print('ok')\n", "dbt/seeds/logo.png": b"\x89PNG\x00\x00IHDR\x00"})
    assert outcome["status"] == "passed"
    assert outcome["summary"] == "secrets: no secrets in 2 files (1 of them binary, scanned as bytes)"
    assert "scanned as bytes (binary): dbt/seeds/logo.png" in outcome["log"]


def test_drill_a_key_hidden_behind_a_nul_byte_fails_the_scan() -> None:
    """Drill (item 8): a NUL byte used to make the scan skip the file and pass; 0 of 3 hidden keys may pass."""
    hidden = {
        "dbt/seeds/logo.png": b"\x89PNG\x00\x00" + KEY_ID.encode(),
        "spark/jobs/x/creds.py": b"\x00\naws_secret_access_key = " + SECRET_KEY.encode() + b"\n",
        "dags/x/conn.py": b"# \x00\nCONN = 'postgres://etl:" + PASSWORD.encode() + b"@db.internal/ledger'\n",
    }
    for path, data in hidden.items():
        outcome = _handler_outcome({path: data})
        assert outcome["status"] == "failed", (path, outcome)
        assert outcome["summary"].startswith(f"secret found: {path}:")
        text = outcome["summary"] + outcome["log"]
        assert KEY_ID not in text and SECRET_KEY not in text and PASSWORD not in text


def test_drill_a_symlink_is_scanned_as_its_link_text_never_followed(tmp_path: Path) -> None:
    """Drill (item 8): links to a file and a folder outside the workspace holding a key; nothing is read there."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "environ").write_text(f"AWS_ACCESS_KEY_ID={KEY_ID}\n")
    (outside / "x.py").write_text(f"KEY = '{KEY_ID}'\n")
    root = tmp_path / "ws"
    (root / "dags").mkdir(parents=True)
    (root / "dags" / "leak.py").symlink_to(outside / "environ")
    (root / "dags" / "linked").symlink_to(outside, target_is_directory=True)
    (outcome,) = check_secrets([{"sources": ["dags/leak.py"]}], HandlerContext(root, tmp_path / "scratch"))
    assert outcome["status"] == "passed" and KEY_ID not in str(outcome)  # the link text, a path, is what git holds
    (outcome,) = check_secrets([{"sources": ["dags/linked/x.py"]}], HandlerContext(root, tmp_path / "scratch"))
    assert outcome["status"] == "failed" and "dags/linked: this folder is a symlink" in outcome["summary"]
    assert KEY_ID not in str(outcome)
    (outcome,) = check_secrets([{"sources": ["../outside/x.py"]}], HandlerContext(root, tmp_path / "scratch"))
    assert outcome["status"] == "failed" and "leaves the workspace" in outcome["summary"] and KEY_ID not in str(outcome)


def test_a_value_merely_containing_example_is_not_allowlisted() -> None:
    assert not is_placeholder(GENERIC[:10] + "example" + GENERIC[10:])
    assert not is_placeholder("AK" + "IA" + draw(UPPER, 9) + "EXAMPLE")
    assert is_placeholder("AKIAIOSFODNN7EXAMPLE") and is_placeholder("example")


def test_excluded_files_are_not_scanned_but_reported() -> None:
    outcome = _handler_outcome({"a/vectors.txt": f"{KEY_ID}\n", "a/b.py": "x = 1\n"}, exclude=["a/vectors.*"])
    assert outcome["status"] == "passed" and "1 excluded" in outcome["summary"]


def test_unreadable_source_fails() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (outcome,) = check_secrets([{"sources": ["gone.py"]}], HandlerContext(Path(tmp), Path(tmp)))
    assert outcome["status"] == "failed" and "gone.py" in outcome["summary"]


def test_action_lists_the_targets_sources_and_settings() -> None:
    target = Target(Label("dags/finance", "ledger_export"), "airflow_dag", "airflow", ("dags/finance/ledger_export.py",),
                    origin=Origin("dags/finance/BUILD", 1))

    settings = Settings(rules={"airflow": {"dags_folder": "dags"}, "secrets": {"entropy_threshold": 4.0, "exclude": ["tests/**"]}})
    # the engine passes a check a context with its own [rules.secrets] section
    snapshot = MemorySnapshot({"dags/finance/ledger_export.py": "x = 1\n", "dags/finance/BUILD": "airflow_dags()\n"})
    ctx = RuleContext(snapshot, settings, settings.rule_settings("secrets"))
    (action,) = check.actions(target, ctx)
    assert isinstance(check, SecretScan) and check.name == "secrets" and check.version
    assert (action.name, action.handler, action.batch) == ("secrets", "rules.checks.secrets:check_secrets", "secrets")
    assert thaw(action.request) == {
        "sources": ["dags/finance/ledger_export.py", "dags/finance/BUILD"],
        "blobs": {p: snapshot.blob_id(p) for p in ("dags/finance/ledger_export.py", "dags/finance/BUILD")},
        "entropy_threshold": 4.0,
        "exclude": ["tests/**"],
    }
    assert check.actions(Target(Label("a", "b"), "k", "r", ()), object()) == ()


# ---------------------------------------------------------------------------------------------
# the real platform


def test_the_platform_has_no_secrets(tmp_path: Path) -> None:
    with Session.open(REPO, use_cache=False) as session:
        graph = session.graph()
        ctx = RuleContext(session.snapshot(), session.workspace.settings, FrozenDict())
        actions = [a for target in graph.targets.values() for a in check.actions(target, ctx)]
    assert len(actions) >= 200
    outcomes = check_secrets([thaw(a.request) for a in actions], HandlerContext(REPO, tmp_path))
    failures = [(str(a.label), o["summary"]) for a, o in zip(actions, outcomes) if o["status"] != "passed"]
    assert failures == []


def test_no_tracked_file_of_the_repository_holds_a_secret() -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    findings = [f for path in files if path and (REPO / path).is_file() for f in scan_bytes((REPO / path).read_bytes(), path)]
    assert findings == []
