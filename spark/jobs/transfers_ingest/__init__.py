"""Daily ingest of transfers.events.v1 into lake.transfers: one row per transfer with its timeline."""
