"""Daily chargebacks from the payments charged back on the run date."""
