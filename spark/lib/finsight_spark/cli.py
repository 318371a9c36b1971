"""Command lines of the jobs: the same flags everywhere, so DAGs and runbooks call every job alike.

    parser = batch_parser("payments_clean", "Clean and FX-convert one day of payments.")
    args = parser.parse_args(argv)      # args.run_date (a date), args.base_path, args.master
"""

from __future__ import annotations

import argparse
import os

from finsight_spark.dates import parse_run_date
from finsight_spark.topics import TopicSource

BASE_PATH_ENV = "FINSIGHT_LAKE_PATH"
BOOTSTRAP_ENV = "FINSIGHT_KAFKA_BOOTSTRAP"


def _common(job: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=job, description=description)
    parser.add_argument(
        "--base-path",
        default=os.environ.get(BASE_PATH_ENV),
        help=f"root of the lake tables (default: ${BASE_PATH_ENV})",
    )
    parser.add_argument(
        "--master",
        default=None,
        help="Spark master, e.g. local[2]; omit on EMR where spark-submit sets it",
    )
    return parser


def add_topic_source(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Flags choosing where topics are read from: Kafka (MSK) or a folder of topic files."""
    group = parser.add_argument_group("topic source")
    group.add_argument("--source", choices=("kafka", "files"), default="kafka")
    group.add_argument(
        "--bootstrap-servers",
        default=os.environ.get(BOOTSTRAP_ENV),
        help=f"MSK bootstrap brokers for --source kafka (default: ${BOOTSTRAP_ENV})",
    )
    group.add_argument("--source-path", help="folder of topic files for --source files")
    group.add_argument("--schema-root", help="folder holding <topic>/schema.avsc (default: the repository's kafka/topics)")
    return parser


def batch_parser(job: str, description: str, *, reads_topics: bool = False) -> argparse.ArgumentParser:
    """The parser of a batch job: `--run-date` (required), `--base-path`, `--master`."""
    parser = _common(job, description)
    parser.add_argument("--run-date", required=True, type=parse_run_date, help="logical date YYYY-MM-DD")
    if reads_topics:
        add_topic_source(parser)
    return parser


def streaming_parser(job: str, description: str) -> argparse.ArgumentParser:
    """The parser of a streaming job: `--checkpoint` (required), trigger flags and the topic source."""
    parser = _common(job, description)
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder of the streaming query")
    parser.add_argument(
        "--trigger-interval",
        default="1 minute",
        help="micro-batch interval of a continuously running query",
    )
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="process everything available, then stop (backfills, tests)",
    )
    parser.add_argument("--max-records-per-trigger", type=int, default=None)
    add_topic_source(parser)
    return parser


def require(parser: argparse.ArgumentParser, args: argparse.Namespace, *names: str) -> None:
    """Exit with a usage error (status 2) when one of `names` has no value."""
    missing = [f"--{name.replace('_', '-')}" for name in names if getattr(args, name) in (None, "")]
    if missing:
        parser.error(f"missing required value(s): {', '.join(missing)}")


def topic_source(parser: argparse.ArgumentParser, args: argparse.Namespace) -> TopicSource:
    """The TopicSource the `--source` flags describe; a usage error if its location is missing."""
    if args.source == "files":
        if not args.source_path:
            parser.error("--source files needs --source-path")
        return TopicSource.files(args.source_path)
    if not args.bootstrap_servers:
        parser.error("--source kafka needs --bootstrap-servers")
    return TopicSource.kafka(args.bootstrap_servers)
