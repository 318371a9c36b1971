"""Deploy handlers of the embedded local backends, one module per asset kind and backend (``<kind>_local``)."""
