"""Running actions: their definition, persistent workers and the scheduler."""
