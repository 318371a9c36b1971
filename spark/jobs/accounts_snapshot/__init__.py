"""Daily snapshot of every account from the accounts.changes.v1 changelog."""
