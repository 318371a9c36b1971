"""Daily ingest of kyc.events.v1 into lake.kyc_events."""
