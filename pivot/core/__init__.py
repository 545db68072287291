"""The engine: discovery, graph, hashing, cache, locks, planning and execution. No UI here."""
