"""Streaming landing of fraud.signals.v1, joined with the card authorizations that triggered them."""
