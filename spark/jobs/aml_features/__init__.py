"""Daily anti-money-laundering features and rule hits per account."""
