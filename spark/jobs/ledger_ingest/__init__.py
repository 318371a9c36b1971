"""Daily ingest of ledger.entries.v1 into lake.ledger_entries, with double-entry checks."""
