"""Streaming ingest of cards.authorizations.v1 into lake.card_authorizations_raw."""
