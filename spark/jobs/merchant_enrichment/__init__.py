"""Daily merchant profiles from the last 30 days of clean payments."""
