"""Task helpers shared by every FinSight DAG.

DAG files build their tasks only through these helpers, with literal arguments, so that the DAG rule
of graphbuild can read a DAG's edges from its syntax tree (`dbt_task(select="fct_payments")` is an
edge to the dbt model, `spark_task(job="payments_clean")` to the Spark job,
`topic_sensor(topic="payments.transactions.v1")` to the Kafka topic).

Nothing here touches a connection, a Variable or the network while a DAG file is parsed: every
environment-specific value (lake bucket, warehouse, Kafka brokers) is read by the task at run time,
from the worker's environment or from the task's connection.

Modules:
    defaults        default_args per owning team, retry policy, failure alerting
    alerts          failure callbacks and deadline (SLA) alerts
    partitions      logical-date templates and partition predicates (never the wall clock)
    dbt             dbt_task: `dbt build|run|test` of a literal model selection; model_sensor
    spark           spark_task: spark-submit of a batch job, ensure-running of a streaming job
    kafka           topic_sensor: wait until a topic has caught up past the data interval
    lake            partition_sensor: wait for a lake partition written by a Spark job
    streaming       streaming checks: progress sensor, lag and commit-gap checks, checkpoint backup
    landing         partner files: landing sensors, HTTP fetches and COPY INTO the raw schema
    sql             warehouse statements, idempotent unloads, branching on a SQL condition
    quality         declarative data-quality checks and volume anomaly checks
    reconciliation  two-sided reconciliations that record breaks and fail past a tolerance
    approvals       human sign-off before a regulatory submission
    orchestration   waiting for another DAG's run, re-running another DAG's partition
    backfill        parameters and range guard of the backfill DAGs
    storage         run-time object-store look-ups used by the sensors
"""
