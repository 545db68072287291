"""What Pivot keeps on disk: hashes, the blob cache, lock files, LMDB state, atomic writes, the project's paths."""
