"""Earlier runs kept on the remote: what a run asks when its local run cache has no answer.

``push`` uploads the run-cache entry of each stage it shares (``runs/ab/cdef…`` beside
``files/``). During a real run (never ``status``: planning must not wait on the network), a
stale stage whose inputs have no local entry is looked up on the default remote; when an
earlier run matches, its blobs are fetched (verified, as ``fetch`` does) and restored instead
of running the stage. Any remote problem turns the lookups off for the rest of the run, with
one warning: the stage then simply runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from pivot.core.project import Project
from pivot.core.remote._transfer import DEFAULT_JOBS, BlobRef, _fetch, _Session, output_blobs
from pivot.core.store.lock import OutRecord
from pivot.core.store.run_cache import parse_entry
from pivot.exceptions import PivotError


class RemoteRuns:
    """Lookups of earlier runs on one remote (the default when ``remote`` is None)."""

    def __init__(self, project: Project, remote: str | None = None, jobs: int = DEFAULT_JOBS):
        self.project = project
        self.remote = remote
        self.jobs = jobs
        self._session: _Session | None = None
        #: Why lookups stopped (shown once), or None while they work.
        self.problem: str | None = None

    def _open(self) -> _Session | None:
        if self.problem is not None:
            return None
        if self._session is None:
            try:
                self._session = _Session(self.project, self.remote, self.jobs)
            except PivotError as exc:
                self.problem = str(exc)
                return None
        return self._session

    def entry(self, key: str) -> tuple[OutRecord, ...] | None:
        """The outputs of the earlier run ``key`` on the remote (kept in the local run cache
        from then on), or None."""
        session = self._open()
        if session is None:
            return None
        try:
            data = session.store.get_run(key)
        except PivotError as exc:
            self.problem = str(exc)
            return None
        if data is None:
            return None
        records = parse_entry(data)
        if records is not None:
            self.project.run_cache.store(key, data)
        return records

    def fetch(self, stage: str, records: Sequence[OutRecord]) -> bool:
        """Bring the blobs of ``records`` into the local cache; False if any could not come."""
        if self._open() is None:
            return False
        refs: dict[str, BlobRef] = {}
        for record in records:
            for ref in output_blobs(stage, record):
                refs.setdefault(ref.hash, ref)
        try:
            result = _fetch(
                self.project, refs, remote=self.remote, jobs=self.jobs, dry_run=False, progress=None
            )
        except PivotError as exc:
            self.problem = str(exc)
            return False
        return result.ok

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
