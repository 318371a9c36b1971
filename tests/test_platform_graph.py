"""The FinSight platform in this repository, as graphbuild sees it: counts, ownership, cross-kind edges."""

from collections import Counter

import pytest

from graphbuild.labels import Label
from graphbuild.ownership import unowned_files
from graphbuild.session import Session
from tests.conftest import REPO_ROOT

TOPICS = [
    "payments.transactions.v1",
    "cards.authorizations.v1",
    "transfers.events.v1",
    "ledger.entries.v1",
    "fraud.signals.v1",
    "kyc.events.v1",
    "fx.rates.v1",
    "accounts.changes.v1",
]


@pytest.fixture(scope="module")
def session():
    with Session.open(REPO_ROOT, use_cache=False) as session:
        yield session


def test_counts_by_kind(session):
    kinds = Counter(t.kind for t in session.graph().targets.values())
    assert kinds["airflow_dag"] == 120
    assert kinds["dbt_model"] == 40
    assert kinds["spark_job"] == 15
    assert kinds["kafka_topic"] == 8
    assert kinds["terraform_module"] >= 12
    assert kinds["dbt_seed"] >= 3 and kinds["dbt_source"] >= 13


def test_every_tracked_file_is_owned(session):
    assert unowned_files(session.graph(), session.snapshot(), session.workspace.settings) == ()


@pytest.mark.parametrize("topic", TOPICS)
def test_each_topic_reaches_a_spark_job_dbt_models_and_dags(session, topic):
    graph = session.graph()
    downstream = graph.transitive_rdeps({Label("kafka/topics", topic)})
    kinds = Counter(graph.targets[label].kind for label in downstream)
    assert kinds["spark_job"] >= 1, topic
    assert kinds["dbt_model"] >= 1, topic
    assert kinds["airflow_dag"] >= 1, topic


def test_spark_to_dbt_edges_come_from_written_tables(session):
    graph = session.graph()
    for label, target in graph.targets.items():
        if target.kind != "dbt_source":
            continue
        producers = [e.target for e in graph.deps[label] if graph.targets[e.target].kind == "spark_job"]
        assert producers, f"{label} has no Spark job writing it"
