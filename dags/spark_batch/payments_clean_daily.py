"""Payments: the daily clean, deduplicated and validated payments (lake.payments_clean).

`payments_clean` reads the day's raw payment events (lake.payments_raw, written continuously by the
payments_stream_ingest streaming job), keeps the latest state of every payment, drops test merchants
and validates amounts and currencies against the day's closing rates (lake.fx_rates_daily).

It starts when three things are true for the day: the streaming job has committed past midnight (so
the raw partition is complete), the topic itself has moved past midnight (so nothing is still in
flight), and the day's closing FX rates are committed. lake.payments_clean is the root of most of the
platform: merchants, chargebacks, settlements and customer features all wait for its partition.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable

from common.alerts import deadline
from common.defaults import default_args
from common.kafka import topic_sensor
from common.lake import partition_sensor
from common.quality import quality_check, volume_anomaly_check
from common.spark import spark_task
from common.streaming import stream_progress_sensor

with DAG(
    dag_id="payments_clean_daily",
    description="lake.payments_raw + lake.fx_rates_daily -> lake.payments_clean",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("30 1 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=True,
    max_active_runs=2,
    dagrun_timeout=timedelta(hours=5),
    default_args=default_args(owner="payments-data", retries=3, retry_delay=timedelta(minutes=10), severity="critical"),
    deadline=deadline(within=timedelta(hours=3), team="payments-data", severity="critical"),
    tags=["spark", "payments", "daily", "tier-1"],
):
    stream_done = stream_progress_sensor(task_id="wait_for_stream_past_midnight", job="payments_stream_ingest")
    topic_done = topic_sensor(task_id="wait_for_payment_events", topic="payments.transactions.v1")
    rates = partition_sensor(task_id="wait_for_closing_rates", table="lake.fx_rates_daily")

    clean = spark_task(
        task_id="clean_payments",
        job="payments_clean",
        executor_memory="16g",
        executor_cores=5,
        max_executors=80,
        conf={"spark.sql.shuffle.partitions": "800"},
        execution_timeout=timedelta(hours=2),
    )

    checks = quality_check(
        task_id="check_payments_clean",
        table="lake.payments_clean",
        min_rows=250_000,
        not_null=["payment_id", "account_id", "merchant_id", "amount_minor", "currency", "status", "created_at"],
        unique=["payment_id"],
        accepted_values={
            "status": ["authorized", "captured", "settled", "refunded", "failed"],
            "payment_method": ["card", "wallet", "bank_debit"],
            "channel": ["pos", "online", "mobile"],
        },
        non_negative=["amount_minor"],
        expressions={"card_payments_have_card": "COUNT_IF(payment_method = 'card' AND card_id IS NULL) = 0"},
    )
    volume = volume_anomaly_check(task_id="check_payment_volume", table="lake.payments_clean", tolerance=0.35)

    [stream_done, topic_done, rates] >> clean >> [checks, volume]
