"""Daily cleaning of lake.payments_raw: latest state per transaction, converted to USD."""
