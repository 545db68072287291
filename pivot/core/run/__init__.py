"""Running it: events, the planner, the engine, workers, executors, commit, checkout, watch, explain."""
