"""Daily rule-based fraud scoring of card authorizations."""
