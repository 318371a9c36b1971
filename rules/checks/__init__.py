"""Action handlers: the real checks of each asset kind, run by the engine inside persistent workers."""
