"""What changed, for people: metrics, plots, params diffs, data diffs, the DAG."""
