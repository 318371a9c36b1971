"""Daily FX rates per currency pair from fx.rates.v1, into lake.fx_rates_daily."""
