"""The engine, with no UI in it. Each folder is one room; find the room for a change by its name:

- ``store/``     what Pivot keeps on disk: hashes, blobs, lock files, LMDB state, the ``.pivot/`` paths
- ``pipeline/``  what the pipeline is: discovery, the stage graph, params, code fingerprints
- ``run/``       running it: events, planner, engine, workers, executors, commit, checkout, watch
- ``remote/``    sharing the cache: push, fetch, pull, verify, behind a small blob-store protocol
- ``reports/``   what changed, as data: metrics, plots, params diffs, data diffs, the DAG
- ``interop/``   other tools' formats: DVC export and import

Directly here: ``project`` (the bundle of stores a command works with) and ``config`` /
``config_files`` (settings).
"""
