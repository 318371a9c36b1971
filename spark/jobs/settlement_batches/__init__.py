"""Daily merchant settlement batches, reconciled against the general ledger."""
