"""Streaming ingest of payments.transactions.v1 into lake.payments_raw."""
