"""Deterministic synthetic graphbuild workspaces shaped like the FinSight platform, at any size.

    python -m bench.synth --targets 10000 --out /tmp/ws10k [--seed 0]

writes a git repository (``git init`` and one commit with fixed dates, so the same arguments give the
same commit id) holding about ``--targets`` targets in the platform's proportions (this repository's:
120 DAGs, 66 dbt targets, 15 Spark jobs, 8 Kafka topics, 16 Terraform modules and the 32 shared
Python modules, of 257). What is copied and what is generated:

- copied verbatim from this repository: ``graphbuild.toml``, ``constraints.txt``, ``.gitignore``, the DAG
  helpers ``dags/common/`` and the Spark library ``spark/lib/`` with ``spark/conftest.py`` (the 32
  ``python_library`` targets stay 32: a bigger platform has more assets, not more helper modules);
- dbt: several projects ``dbt/<project>/`` of at most ``MODELS_PER_PROJECT`` models (one project of
  thousands of models is not how teams run dbt; a project per business area is), each with
  staging -> intermediate -> marts layers in domain folders of about 16 models, every model ref'ing 1-4
  upstream models of its own domain (rarely one of the previous domain), sources on the lake tables
  the Spark jobs write (sample rows for DuckDB), seeds, macros called from models, YAML with tests;
- Spark jobs ``spark/jobs/<job>/`` (BUILD with reads/writes, ``main.py``, ``transforms.py``,
  ``tests/``): every dbt source table is written by one job; jobs read a topic or tables of earlier
  jobs. Their unit tests are *light*: they test the pure helpers of ``transforms.py`` and do not
  start a SparkSession (thousands of JVM-backed test suites would not fit a benchmark);
- Kafka topics ``kafka/topics/<domain>.<entity>.v1/`` (``schema.avsc``, ``topic.toml``, ``versions/1.avsc``
  one optional field older, BACKWARD compatible);
- Terraform leaf modules (SQS, SNS, log groups, Glue schemas reading a topic's ``schema.avsc``), one
  composition module per stack wiring them with ``source = "../<name>"``, and ``dev``/``staging``/``prod``
  root stacks calling it with ``source = "../../modules/<name>"``;
- DAGs in folders of at most 24 under ``dags/``, built with the helpers ``dbt_task(select=...)``,
  ``spark_task(job=...)``, ``topic_sensor(topic=...)``, ``partition_sensor(table=...)`` and
  ``model_sensor(model=...)``; the DAG count absorbs rounding so the total is exactly ``--targets``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS_PER_PROJECT = 400
MODELS_PER_DOMAIN = 16
DAGS_PER_FOLDER = 24
LIBRARY_TARGETS = 32  # dags/common (17) + spark/lib (15), copied
COPIED = ("graphbuild.toml", "constraints.txt", ".gitignore", "spark/conftest.py", "spark/.gitignore")
COPIED_TREES = ("dags/common", "spark/lib")
TEAMS = ("payments-data", "cards-data", "ledger-data", "treasury-data", "risk-data", "compliance-data",
         "customer-data", "finance-reporting", "ml-platform", "data-platform")
WORDS = ("payments", "cards", "ledger", "treasury", "risk", "compliance", "customers", "finance", "transfers",
         "merchants", "fraud", "billing", "lending", "savings", "fx", "settlements", "disputes", "onboarding",
         "rewards", "payroll", "crypto", "insurance", "invoices", "pricing")
ENTITIES = ("events", "accounts", "balances", "orders", "positions", "limits", "fees", "refunds", "holds",
            "statements", "alerts", "scores")
COLUMNS = ("id", "account_id", "amount", "currency", "status", "event_date", "updated_at")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "synth", "GIT_AUTHOR_EMAIL": "synth@example.com", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_NAME": "synth", "GIT_COMMITTER_EMAIL": "synth@example.com",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
}


@dataclass(frozen=True)
class Plan:
    """How many targets of each kind a workspace of ``targets`` targets gets."""

    targets: int
    topics: int
    jobs: int
    terraform: int
    models: int
    sources: int
    seeds: int
    macros: int
    projects: int
    dags: int

    @classmethod
    def of(cls, targets: int) -> Plan:
        scale = max(targets - LIBRARY_TARGETS, 60) / 225  # the platform: 225 targets besides the libraries
        models = max(8, round(40 * scale))
        projects = math.ceil(models / MODELS_PER_PROJECT)
        sources = max(projects, round(13 * scale))
        plan = dict(
            topics=max(2, round(8 * scale)),
            jobs=max(sources + 1, round(15 * scale)),
            terraform=max(8, round(16 * scale)),
            models=models,
            sources=sources,
            seeds=max(projects, round(5 * scale)),
            macros=max(projects, round(7 * scale)),
            projects=projects,
        )
        dbt = models + sources + plan["seeds"] + plan["macros"] + projects
        dags = targets - LIBRARY_TARGETS - plan["topics"] - plan["jobs"] - plan["terraform"] - dbt
        if dags < 1:
            raise SystemExit(f"--targets {targets} is too small (at least about 100)")
        return cls(targets=targets, dags=dags, **plan)


@dataclass
class Domain:
    name: str
    project: str
    staging: list[str] = field(default_factory=list)
    intermediate: list[str] = field(default_factory=list)
    marts: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)  # dbt source tables (lake.<table>)

    @property
    def models(self) -> list[str]:
        return [*self.staging, *self.intermediate, *self.marts]


@dataclass
class Job:
    name: str
    writes: str  # table
    reads_topic: str | None
    reads_tables: list[str]


def _split(total: int, parts: int) -> list[int]:
    """``total`` in ``parts`` near-equal integers."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _align(pairs: list[tuple[str, str]], indent: str) -> list[str]:
    """HCL attributes aligned as ``terraform fmt`` writes them."""
    width = max(len(k) for k, _ in pairs)
    return [f"{indent}{k.ljust(width)} = {v}" for k, v in pairs]


class Writer:
    def __init__(self, out: Path) -> None:
        self.out = out
        self.files = 0

    def write(self, path: str, text: str) -> None:
        file = self.out / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        self.files += 1


class Generator:
    def __init__(self, plan: Plan, seed: int, writer: Writer) -> None:
        self.plan = plan
        self.rng = random.Random(seed)
        self.w = writer
        self.domains: list[Domain] = []
        self.jobs: list[Job] = []
        self.topics: list[str] = []
        self.projects: list[str] = []
        self.seeds: dict[str, list[str]] = {}
        self.macros: dict[str, list[str]] = {}

    # ---- naming -------------------------------------------------------------------------------
    @staticmethod
    def _word(i: int, words: tuple[str, ...] = WORDS) -> str:
        word = words[i % len(words)]
        return word if i < len(words) else f"{word}{i // len(words)}"

    # ---- layout -------------------------------------------------------------------------------
    def lay_out(self) -> None:
        p = self.plan
        self.projects = [f"{self._word(i)}_mesh" if p.projects > 1 else "finsight" for i in range(p.projects)]
        domain_index = 0
        project_models = _split(p.models, p.projects)
        project_sources = _split(p.sources, p.projects)
        for pi, (project, models, sources) in enumerate(zip(self.projects, project_models, project_sources)):
            count = max(1, min(sources, round(models / MODELS_PER_DOMAIN)))
            for dm, ds in zip(_split(models, count), _split(sources, count)):
                domain = Domain(self._word(domain_index), project)
                domain_index += 1
                ds = max(ds, 1)
                n_stg = max(1, min(round(dm * 0.35), dm))
                n_int = max(0, round(dm * 0.30)) if dm - n_stg > 1 else 0
                n_mart = dm - n_stg - n_int
                domain.tables = [f"{domain.name}_{self._word(k, ENTITIES)}" for k in range(ds)]
                domain.staging = [f"stg_{domain.name}_{self._word(k, ENTITIES)}" for k in range(n_stg)]
                domain.intermediate = [f"int_{domain.name}_{self._word(k, ENTITIES)}_joined" for k in range(n_int)]
                domain.marts = [f"{'fct' if k % 3 else 'dim'}_{domain.name}_{self._word(k, ENTITIES)}" for k in range(n_mart)]
                self.domains.append(domain)
            self.seeds[project] = [f"{project}_ref_{self._word(k, ENTITIES)}" for k in range(_split(p.seeds, p.projects)[pi])]
            self.macros[project] = [f"{project}_fn_{k}" for k in range(_split(p.macros, p.projects)[pi])]
        # topics: one per (domain, entity) until there are enough
        self.topics = [f"{self._word(i)}.{self._word(i // len(WORDS), ENTITIES)}.v1" for i in range(p.topics)]
        tables = [t for d in self.domains for t in d.tables]
        extra = p.jobs - len(tables)
        tables += [f"{self._word(i)}_features_{i}" for i in range(extra)]
        for i, table in enumerate(tables):
            if i % 2 == 0 or i == 0:
                topic = self.topics[(i // 2) % len(self.topics)]
                job = Job(f"ingest_{table}", table, topic, [])
            else:
                window = tables[max(0, i - 6) : i]
                job = Job(f"build_{table}", table, None, self.rng.sample(window, min(len(window), self.rng.randint(1, 2))))
            self.jobs.append(job)

    # ---- dbt ----------------------------------------------------------------------------------
    def dbt(self) -> None:
        for project in self.projects:
            domains = [d for d in self.domains if d.project == project]
            self._dbt_project(project, domains)

    def _dbt_project(self, project: str, domains: list[Domain]) -> None:
        root = f"dbt/{project}"
        w = self.w
        w.write(f"{root}/BUILD", "dbt_project()\n")
        w.write(f"{root}/dbt_project.yml", "\n".join([
            f"name: {project}", 'version: "1.0.0"', "config-version: 2", f"profile: {project}",
            'require-dbt-version: [">=1.8.0", "<1.12.0"]', "",
            'model-paths: ["models"]', 'seed-paths: ["seeds"]', 'test-paths: ["tests"]', 'macro-paths: ["macros"]',
            "target-path: target", 'clean-targets: ["target", "logs", "dbt_packages"]', "",
            "flags:", "  send_anonymous_usage_stats: false", "  use_colors: false", "",
            "models:", f"  {project}:",
            "    staging:", "      +schema: staging", "      +materialized: view",
            "    intermediate:", "      +schema: intermediate", "      +materialized: view",
            "    marts:", "      +schema: marts", "      +materialized: table", "",
            "seeds:", f"  {project}:", "    +schema: reference", "",
        ]))
        w.write(f"{root}/profiles.yml", "\n".join([
            f"{project}:", "  target: dev", "  outputs:", "    dev:", "      type: duckdb",
            f"      path: \"{{{{ env_var('GRAPHBUILD_DUCKDB_PATH', 'target/{project}.duckdb') }}}}\"",
            "      schema: analytics", "      threads: 4", "",
        ]))
        w.write(f"{root}/.gitignore", "target/\nlogs/\ndbt_packages/\n*.duckdb\n*.duckdb.wal\n.user.yml\n")
        # macros
        for name in self.macros[project]:
            w.write(f"{root}/macros/{name}.sql", "\n".join([
                f"{{% macro {name}(amount, currency) %}}",
                f"    round(cast({{{{ amount }}}} as decimal(18, 2)) * case when {{{{ currency }}}} = 'JPY' then 1 else 1 end, 2)",
                "{% endmacro %}", "",
            ]))
        # seeds
        seed_yml = ["version: 2", "", "seeds:"]
        for name in self.seeds[project]:
            w.write(f"{root}/seeds/{name}.csv", "code,label\nUSD,US dollar\nEUR,Euro\nGBP,Pound sterling\n")
            seed_yml += [f"  - name: {name}", f"    description: Reference codes ({name}).",
                         "    columns:", "      - name: code", "        data_tests: [not_null]"]
        w.write(f"{root}/seeds/_seeds.yml", "\n".join(seed_yml) + "\n")
        # sources and their sample rows
        sources = ["version: 2", "", "sources:", "  - name: lake",
                   f"    description: Lake tables written by the Spark jobs that {project} reads.", "    schema: lake",
                   "    config:", "      meta: >-",
                   "        {{ {'external_location': \"read_csv('sample_data/lake/{name}.csv', header = true, all_varchar = true)\"}",
                   "           if target.type == 'duckdb' else {} }}", "    tables:"]
        for table in sorted(t for d in domains for t in d.tables):
            sources += [f"      - name: {table}", f"        description: {table.replace('_', ' ')}, one row per record and day.",
                        "        columns:", "          - name: id", "            data_type: varchar",
                        "            data_tests: [not_null]"]
            rows = ["id,account_id,amount,currency,status,event_date,updated_at"]
            rows += [f"{k},acc_{k % 2},{10 * k}.50,{('USD', 'EUR', 'GBP')[k % 3]},settled,2024-05-01,2024-05-01 0{k}:00:00" for k in range(1, 4)]
            w.write(f"{root}/sample_data/lake/{table}.csv", "\n".join(rows) + "\n")
        w.write(f"{root}/models/staging/_sources.yml", "\n".join(sources) + "\n")
        previous: Domain | None = None
        for domain in domains:
            self._dbt_domain(root, project, domain, previous)
            previous = domain

    def _dbt_domain(self, root: str, project: str, d: Domain, previous: Domain | None) -> None:
        rng = self.rng
        macros = self.macros[project]
        seeds = self.seeds[project]
        cols = ",\n    ".join
        for layer, models in (("staging", d.staging), ("intermediate", d.intermediate), ("marts", d.marts)):
            yml = ["version: 2", "", "models:"]
            for k, model in enumerate(models):
                if layer == "staging":
                    table = d.tables[k % len(d.tables)]
                    body = "\n".join([
                        "with source as (", "", f"    select * from {{{{ source('lake', '{table}') }}}}", "", ")", "",
                        "select", "    " + cols([
                            "cast(id as varchar) as id", "cast(account_id as varchar) as account_id",
                            "cast(amount as decimal(18, 2)) as amount", "upper(cast(currency as varchar)) as currency",
                            "lower(cast(status as varchar)) as status", "cast(event_date as date) as event_date",
                            "cast(updated_at as timestamp) as updated_at"]),
                        "from source", "where id is not null", ""])
                else:
                    upstream_pool = d.staging + d.intermediate[: k if layer == "intermediate" else len(d.intermediate)]
                    if layer == "marts":
                        upstream_pool = d.intermediate + d.marts[:k] or d.staging
                    upstream = rng.sample(upstream_pool, min(len(upstream_pool), rng.randint(1, 4)))
                    if previous is not None and previous.marts and rng.random() < 0.15:
                        upstream.append(rng.choice(previous.marts))
                    amount = "a.amount"
                    if macros and rng.random() < 0.4:
                        amount = f"{{{{ {rng.choice(macros)}('a.amount', 'a.currency') }}}}"
                    lines = [f"-- {model}: {', '.join(upstream)}"]
                    if layer == "marts":
                        lines = ["{{ config(materialized='table') }}", "", *lines]
                    ctes = [f"u{i} as (\n\n    select * from {{{{ ref('{ref}') }}}}\n\n)" for i, ref in enumerate(upstream)]
                    joins = [f"left join u{i} on u0.id = u{i}.id" for i in range(1, len(upstream))]
                    seed_join = []
                    if seeds and rng.random() < 0.2:
                        ctes.append(f"ref_codes as (\n\n    select * from {{{{ ref('{rng.choice(seeds)}') }}}}\n\n)")
                        seed_join = ["left join ref_codes on u0.currency = ref_codes.code"]
                    extra = " + ".join(f"coalesce(u{i}.amount, 0)" for i in range(1, len(upstream)))
                    total = f"{amount.replace('a.', 'u0.')}" + (f" + {extra}" if extra else "")
                    lines += ["with " + ",\n\n".join(ctes), "", "select", "    " + cols([
                        "u0.id", "u0.account_id", f"{total} as amount", "u0.currency", "u0.status", "u0.event_date",
                        "u0.updated_at"]), "from u0", *joins, *seed_join, ""]
                    body = "\n".join(lines)
                self.w.write(f"{root}/models/{layer}/{d.name}/{model}.sql", body)
                tests = "[not_null, unique]" if layer == "marts" else "[not_null]"
                yml += [f"  - name: {model}", f"    description: {layer.capitalize()} model of {d.name} ({model}).",
                        "    config:", f"      meta: {{owner: {TEAMS[len(d.name) % len(TEAMS)]}}}",
                        "    columns:", "      - name: id", "        description: Record identifier.",
                        f"        data_tests: {tests}", "      - name: amount", "        description: Amount in the record's currency."]
            if models:
                self.w.write(f"{root}/models/{layer}/{d.name}/_{d.name}__models.yml", "\n".join(yml) + "\n")

    # ---- Spark ----------------------------------------------------------------------------------
    def spark(self) -> None:
        for i, job in enumerate(self.jobs):
            folder = f"spark/jobs/{job.name}"
            reads = ([f"topic:{job.reads_topic}"] if job.reads_topic else []) + [f"table:lake.{t}" for t in job.reads_tables]
            mode = "streaming" if job.reads_topic and i % 6 == 0 else "batch"
            self.w.write(f"{folder}/BUILD", "\n".join([
                "spark_job(", '    main="main.py",', f'    mode="{mode}",',
                f"    reads={json.dumps(reads)},", f'    writes=["table:lake.{job.writes}"],',
                f'    description="{", ".join(r.split(":", 1)[1] for r in reads)} -> lake.{job.writes}.",',
                f'    owners=["{TEAMS[i % len(TEAMS)]}"],', f'    tags=["{mode}"],', ")", ""]))
            self.w.write(f"{folder}/__init__.py", f'"""Spark job {job.name}: writes lake.{job.writes}."""\n')
            inputs = ", ".join(json.dumps(r) for r in reads)
            self.w.write(f"{folder}/transforms.py", "\n".join([
                f'"""Pure transforms of {job.name}: {", ".join(reads)} -> lake.{job.writes} (partition ds)."""', "",
                "from __future__ import annotations", "",
                "from pyspark.sql import DataFrame", "from pyspark.sql import functions as F", "",
                f'OUTPUT_TABLE = "lake.{job.writes}"', f"INPUTS = ({inputs},)",
                f"COLUMNS = {COLUMNS!r}", "", "",
                "def partition_path(base_path: str, ds: str) -> str:",
                '    """Where the partition ``ds`` of the output table lives under the lake root."""',
                '    return f"{base_path.rstrip(\'/\')}/' + job.writes + '/ds={ds}"', "", "",
                "def is_valid_status(status: str | None) -> bool:",
                '    return status in ("authorized", "captured", "settled", "refunded", "failed")', "", "",
                f"def {job.writes}(frame: DataFrame, ds: str) -> DataFrame:",
                '    """The latest state of every record of the day, with the partition column."""',
                "    latest = frame.groupBy(\"id\").agg(F.max_by(F.struct(*[F.col(c) for c in COLUMNS]), F.col(\"updated_at\")).alias(\"r\"))",
                '    return latest.select("r.*").withColumn("ds", F.lit(ds))', ""]))
            self.w.write(f"{folder}/main.py", "\n".join([
                f'"""Entry point of {job.name}."""', "", "from __future__ import annotations", "", "import sys",
                "from collections.abc import Sequence", "",
                "from finsight_spark.cli import batch_parser, require",
                "from finsight_spark.dates import ds", "from finsight_spark.io import read_table, write_partition",
                "from finsight_spark.session import build_session",
                f"from {job.name}.transforms import OUTPUT_TABLE, {job.writes}", "", f'JOB = "{job.name}"', "", "",
                "def main(argv: Sequence[str] | None = None) -> int:",
                f'    parser = batch_parser(JOB, "Build lake.{job.writes}.", reads_topics={bool(job.reads_topic)})',
                "    args = parser.parse_args(argv)", '    require(parser, args, "base_path")',
                "    spark = build_session(JOB, master=args.master)",
                f'    frame = read_table(spark, args.base_path, "{(job.reads_tables or [job.writes])[0]}")',
                f"    write_partition({job.writes}(frame, ds(args.run_date)), args.base_path, OUTPUT_TABLE, ds=ds(args.run_date))",
                "    return 0", "", "", 'if __name__ == "__main__":', "    sys.exit(main())", ""]))
            self.w.write(f"{folder}/tests/test_{job.name}.py", "\n".join([
                f"from {job.name}.transforms import COLUMNS, INPUTS, OUTPUT_TABLE, is_valid_status, partition_path", "", "",
                "def test_output_is_a_lake_table():",
                f'    assert OUTPUT_TABLE == "lake.{job.writes}"', '    assert "id" in COLUMNS and INPUTS', "", "",
                "def test_partition_path():",
                f'    assert partition_path("s3://lake/", "2024-05-01") == "s3://lake/{job.writes}/ds=2024-05-01"', "", "",
                "def test_statuses():", '    assert is_valid_status("settled") and not is_valid_status(None)', ""]))

    # ---- Kafka ----------------------------------------------------------------------------------
    def kafka(self) -> None:
        self.w.write("kafka/topics/BUILD", "kafka_topics()\n")
        for i, topic in enumerate(self.topics):
            domain, entity, _ = topic.split(".")
            fields = [
                {"name": "id", "type": "string", "doc": "Record identifier."},
                {"name": "account_id", "type": "string"},
                {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}},
                {"name": "currency", "type": "string", "doc": "ISO 4217 code."},
                {"name": "status", "type": {"type": "enum", "name": "Status",
                                            "symbols": ["AUTHORIZED", "CAPTURED", "SETTLED", "REFUNDED", "FAILED"]}},
                {"name": "occurred_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            ]
            newer = {"name": "channel", "type": ["null", "string"], "default": None, "doc": "Added in version 2."}
            record = {"type": "record", "name": entity.capitalize().rstrip("s") + "Event",
                      "namespace": f"com.finsight.{domain}", "doc": f"{entity} of {domain}.", "fields": fields}
            folder = f"kafka/topics/{topic}"
            self.w.write(f"{folder}/schema.avsc", json.dumps({**record, "fields": [*fields, newer]}, indent=2) + "\n")
            self.w.write(f"{folder}/versions/1.avsc", json.dumps(record, indent=2) + "\n")
            self.w.write(f"{folder}/topic.toml", "\n".join([
                f'description = "{entity} of {domain}, keyed by id."', f'owner = "{TEAMS[i % len(TEAMS)]}"',
                f"partitions = {(6, 12, 24)[i % 3]}", "replication_factor = 3", "min_insync_replicas = 2",
                "retention_ms = 604800000", 'cleanup_policy = "delete"', 'compatibility = "BACKWARD"', ""]))

    # ---- Terraform ------------------------------------------------------------------------------
    _VARIABLES = "\n".join([
        'variable "environment" {', '  description = "Deployment environment: dev, staging or prod."',
        "  type        = string", "", "  validation {",
        '    condition     = contains(["dev", "staging", "prod"], var.environment)',
        '    error_message = "environment must be one of dev, staging, prod."', "  }", "}", "",
        'variable "tags" {',
        '  description = "Tags for every taggable resource; must carry Project, Environment, Owner and DataClassification."',
        "  type        = map(string)", "", "  validation {",
        '    condition     = alltrue([for key in ["Project", "Environment", "Owner", "DataClassification"] : contains(keys(var.tags), key)])',
        '    error_message = "tags must include Project, Environment, Owner and DataClassification."', "  }", "}", "",
        'variable "kms_key_arn" {', '  description = "ARN of the KMS key that encrypts the data."',
        "  type        = string", "}", ""])
    _VERSIONS = "\n".join([
        "terraform {", '  required_version = ">= 1.6.0, < 2.0.0"', "", "  required_providers {", "    aws = {",
        '      source  = "hashicorp/aws"', '      version = "~> 5.70"', "    }", "  }", "}", ""])

    def terraform(self) -> None:
        total = self.plan.terraform
        stacks = max(1, round(total * 3 / 16 / 3))
        leaves = total - 4 * stacks
        groups = _split(leaves, stacks)
        leaf = 0
        for s, count in enumerate(groups):
            stack = "platform" if stacks == 1 else f"{self._word(s)}_platform"
            names = []
            for _ in range(count):
                kind = ("queue", "topic", "logs", "schema")[leaf % 4]
                name = f"{self._word(leaf // 4)}_{kind}"
                names.append(name)
                self._tf_leaf(name, kind, leaf)
                leaf += 1
            self._tf_composition(stack, names)
            for env in ("dev", "staging", "prod"):
                self._tf_env(stack if stacks > 1 else "", env, stack, names[0])

    def _tf_leaf(self, name: str, kind: str, i: int) -> None:
        folder = f"terraform/modules/{name}"
        self.w.write(f"{folder}/BUILD", "terraform_module()\n")
        base = f'"finsight-${{var.environment}}-{name.replace("_", "-")}"'
        if kind == "queue":
            body = ['resource "aws_sqs_queue" "this" {', *_align([
                ("name", base), ("kms_master_key_id", "var.kms_key_arn"),
                ("message_retention_seconds", str(86400 * (1 + i % 7))), ("tags", "var.tags")], "  "), "}"]
            output = "aws_sqs_queue.this.arn"
        elif kind == "topic":
            body = ['resource "aws_sns_topic" "this" {', *_align([
                ("name", base), ("kms_master_key_id", "var.kms_key_arn"), ("tags", "var.tags")], "  "), "}"]
            output = "aws_sns_topic.this.arn"
        elif kind == "logs":
            body = ['resource "aws_cloudwatch_log_group" "this" {', *_align([
                ("name", f'"/finsight/${{var.environment}}/{name}"'), ("kms_key_id", "var.kms_key_arn"),
                ("retention_in_days", str((30, 90, 365)[i % 3])), ("tags", "var.tags")], "  "), "}"]
            output = "aws_cloudwatch_log_group.this.arn"
        else:
            topic = self.topics[i % len(self.topics)]
            body = ['resource "aws_glue_registry" "this" {', *_align([
                ("registry_name", base), ("tags", "var.tags")], "  "), "}", "",
                'resource "aws_glue_schema" "this" {', *_align([
                    ("schema_name", f'"{topic}-value"'), ("registry_arn", "aws_glue_registry.this.arn"),
                    ("data_format", '"AVRO"'), ("compatibility", '"BACKWARD"'),
                    ("schema_definition", f'file("${{path.module}}/../../../kafka/topics/{topic}/schema.avsc")'),
                    ("tags", "var.tags")], "  "), "}"]
            output = "aws_glue_schema.this.arn"
        self.w.write(f"{folder}/main.tf", f"# {name}: one {kind} of the platform.\n\n" + "\n".join(body) + "\n")
        self.w.write(f"{folder}/variables.tf", self._VARIABLES)
        self.w.write(f"{folder}/outputs.tf", "\n".join([
            'output "arn" {', '  description = "ARN of the resource."', f"  value       = {output}", "}", ""]))
        self.w.write(f"{folder}/versions.tf", self._VERSIONS)

    def _tf_composition(self, stack: str, names: list[str]) -> None:
        folder = f"terraform/modules/{stack}"
        self.w.write(f"{folder}/BUILD", "terraform_module()\n")
        blocks = [f"# {stack}: the modules of one stack, wired once.", ""]
        for name in names:
            blocks += [f'module "{name}" {{', f'  source = "../{name}"', "", *_align([
                ("environment", "var.environment"), ("kms_key_arn", "var.kms_key_arn"), ("tags", "var.tags")], "  "), "}", ""]
        self.w.write(f"{folder}/main.tf", "\n".join(blocks))
        self.w.write(f"{folder}/variables.tf", self._VARIABLES)
        self.w.write(f"{folder}/outputs.tf", "\n".join([
            'output "arns" {', '  description = "ARN of every resource of the stack."', "  value = {",
            *_align([(n, f"module.{n}.arn") for n in names], "    "), "  }", "}", ""]))
        self.w.write(f"{folder}/versions.tf", self._VERSIONS)

    def _tf_env(self, prefix: str, env: str, stack: str, direct: str) -> None:
        folder = f"terraform/envs/{prefix + '_' if prefix else ''}{env}"
        self.w.write(f"{folder}/BUILD", "terraform_module()\n")
        self.w.write(f"{folder}/main.tf", "\n".join([
            f"# {stack}, {env} stack.", "", "locals {", f'  environment = "{env}"', "", "  tags = {", *_align([
                ("Project", '"finsight-data-platform"'), ("Environment", "local.environment"),
                ("Owner", '"data-platform-team"'), ("DataClassification", '"confidential"')], "    "), "  }", "}", "",
            f'module "{stack}" {{', f'  source = "../../modules/{stack}"', "", *_align([
                ("environment", "local.environment"), ("kms_key_arn", "var.kms_key_arn"), ("tags", "local.tags")], "  "), "}", "",
            f'module "{direct}" {{', f'  source = "../../modules/{direct}"', "", *_align([
                ("environment", "local.environment"), ("kms_key_arn", "var.kms_key_arn"), ("tags", "local.tags")], "  "), "}", ""]))
        self.w.write(f"{folder}/variables.tf", "\n".join([
            'variable "kms_key_arn" {', '  description = "ARN of the environment\'s KMS key."', "  type        = string", "}", ""]))
        self.w.write(f"{folder}/versions.tf", self._VERSIONS)

    # ---- Airflow --------------------------------------------------------------------------------
    def dags(self) -> None:
        rng = self.rng
        marts_domains = [d for d in self.domains if d.marts]
        kinds = ("dbt",) * 8 + ("spark",) * 5 + ("quality",) * 4 + ("report",) * 3
        folders: dict[str, int] = {}
        for i in range(self.plan.dags):
            kind = kinds[i % len(kinds)]
            group = folders.setdefault(kind, 0)
            folder = f"dags/{kind}_{group // DAGS_PER_FOLDER:03d}"
            folders[kind] = group + 1
            if group % DAGS_PER_FOLDER == 0:
                self.w.write(f"{folder}/BUILD", 'airflow_dags(sources=["*.py"])\n')
            owner = TEAMS[i % len(TEAMS)]
            imports = {"common.defaults": "default_args"}
            tasks: list[str] = []
            if kind == "dbt":
                d = self.domains[(i * 7) % len(self.domains)]
                name = f"dbt_{d.name}_{i:05d}"
                for t in d.tables[:2]:
                    imports["common.lake"] = "partition_sensor"
                    tasks.append(f'wait_{t} = partition_sensor(task_id="wait_for_{t}", table="lake.{t}")')
                imports["common.dbt"] = "dbt_task"
                chain = [d.staging[:3], d.intermediate[: rng.randint(1, 3)], d.marts[: rng.randint(1, 2)]]
                for step, models in enumerate(m for m in chain if m):
                    tasks.append(f'build_{step} = dbt_task(task_id="build_{step}", select="{" ".join(models)}")')
                desc = f"dbt build of the {d.name} models"
            elif kind == "spark":
                job = self.jobs[(i * 5) % len(self.jobs)]
                name = f"spark_{job.name}_{i:05d}"
                if job.reads_topic:
                    imports["common.kafka"] = "topic_sensor"
                    tasks.append(f'wait_topic = topic_sensor(task_id="wait_for_topic", topic="{job.reads_topic}")')
                for k, t in enumerate(job.reads_tables):
                    imports["common.lake"] = "partition_sensor"
                    tasks.append(f'wait_{k} = partition_sensor(task_id="wait_for_{t}", table="lake.{t}")')
                imports["common.spark"] = "spark_task"
                tasks.append(f'run = spark_task(task_id="run_{job.name}", job="{job.name}")')
                desc = f"Spark job {job.name} -> lake.{job.writes}"
            else:
                d = marts_domains[(i * 3) % len(marts_domains)]
                name = f"{kind}_{d.name}_{i:05d}"
                imports["common.dbt"] = "dbt_task, model_sensor"
                watched = d.marts[: rng.randint(1, 3)]
                for k, m in enumerate(watched):
                    tasks.append(f'wait_{k} = model_sensor(task_id="wait_for_{m}", model="{m}")')
                command = ', command="test"' if kind == "quality" else ""
                tasks.append(f'check = dbt_task(task_id="{kind}_checks", select="{" ".join(watched)}"{command})')
                desc = f"{kind} over the {d.name} marts"
            names = [t.split(" = ", 1)[0] for t in tasks]
            lines = [
                f'"""{desc}, daily (synthetic DAG {i})."""', "", "from __future__ import annotations", "",
                "from datetime import timedelta", "", "import pendulum",
                "from airflow.sdk import DAG, CronDataIntervalTimetable", "",
                *(f"from {module} import {names_}" for module, names_ in sorted(imports.items())), "",
                "with DAG(", f'    dag_id="{name}",', f'    description="{desc}",', "    doc_md=__doc__,",
                f'    schedule=CronDataIntervalTimetable("{i % 60} {i % 24} * * *", timezone="UTC"),',
                '    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),', "    catchup=False,",
                "    max_active_runs=1,", "    dagrun_timeout=timedelta(hours=4),",
                f'    default_args=default_args(owner="{owner}", retries=2, retry_delay=timedelta(minutes=10)),',
                f'    tags=["{kind}", "{owner.split("-")[0]}", "daily"],', "):",
                *(f"    {t}" for t in tasks), "", "    " + " >> ".join(names), ""]
            self.w.write(f"{folder}/{name}.py", "\n".join(lines))

    def copy(self) -> None:
        for rel in COPIED:
            if (ROOT / rel).exists():
                text = (ROOT / rel).read_text()
                self.w.write(rel, _without_remote_cache(text) if rel == "graphbuild.toml" else text)
        for tree in COPIED_TREES:
            listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z", "--", tree],
                                    capture_output=True, check=True).stdout.decode().split("\0")
            for rel in sorted(p for p in listed if p):
                self.w.write(rel, (ROOT / rel).read_text())


def _without_remote_cache(toml: str) -> str:
    """The platform's settings minus ``[cache.remote]``: a synthetic workspace shares no one's cache bucket."""
    out, skipping = [], False
    for line in toml.splitlines(keepends=True):
        header = line.strip()
        if header.startswith("["):
            skipping = header.startswith("[cache.remote")
        if not skipping:
            out.append(line)
    return "".join(out)


def generate(targets: int, out: Path, seed: int = 0, *, commit: bool = True) -> Plan:
    """Write the workspace into ``out`` (which must not exist or be empty) and commit it."""
    plan = Plan.of(targets)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    gen = Generator(plan, seed, Writer(out))
    gen.lay_out()
    gen.copy()
    gen.dbt()
    gen.spark()
    gen.kafka()
    gen.terraform()
    gen.dags()
    if commit:
        env = {**os.environ, **GIT_ENV}
        git = ["git", "-C", str(out), "-c", "init.defaultBranch=main", "-c", "core.autocrlf=false"]
        subprocess.run([*git, "init", "-q"], check=True, env=env)
        subprocess.run([*git, "add", "-A"], check=True, env=env)
        subprocess.run([*git, "commit", "-q", "--no-verify", "--no-gpg-sign", "-m", f"synthetic workspace: {targets} targets, seed {seed}"],
                       check=True, env=env)
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.synth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    plan = generate(args.targets, args.out, args.seed)
    print(json.dumps(plan.__dict__), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
