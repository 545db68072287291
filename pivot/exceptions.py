"""Every error Pivot raises on purpose, in one tree.

```
PivotError                      exit 1 unless a subclass says otherwise
├── UsageError                  exit 2: bad command-line input
├── ProjectError                exit 2: no project, bad config file, path outside the project
│   └── ConfigError             a bad key or value in a config file
├── PipelineError               exit 2: pipeline.py cannot be loaded or is inconsistent
│   ├── StageDefinitionError    a stage's signature or annotations are unusable
│   │   └── CompositionError    a `with Pipeline(...)` block wires a stage call wrongly
│   └── GraphError              cycle, two producers of one path, missing dep
├── FingerprintError            code fingerprinting asked the impossible (bad root, unwritable store)
├── MissingDependencyError      exit 2: an optional library (pandas, a cloud SDK) is not installed
├── LockFileError               exit 2: a lock file that does not parse or has the wrong shape
├── CacheError                  a blob missing from or corrupt in the cache
│   └── CacheCorruptError       a cached blob whose bytes no longer match its name (removed)
├── IncrementalStateError       an incremental output's previous version cannot be restored
├── StageFailed                 one stage did not complete (the run goes on without it)
│   ├── StageOutputError        it finished but did not produce what it declared
│   │   └── CodeMismatchError   the worker's copy of the code differs from the coordinator's
│   └── WorkerLost              the process running it died (crash, kill, out of memory)
├── RunInProgressError          another `pivot run` holds the project lock
├── ExecutorError               the executor cannot be used
│   ├── DaskExecutorError       the Dask cluster cannot be reached or used
│   └── CodeBundleError         the project's code cannot be shipped to remote workers
├── RemoteError                 a remote (S3, GCS, Azure, folder) cannot be used, or one blob failed
│   ├── RemoteUnavailableError  no blob can succeed: unreachable, refused, no bucket or folder
│   ├── BlobCorruptError        bytes whose xxhash64 is not the name they are stored under
│   └── BlobMissingError        the remote has no blob of this hash
├── SourceRepoError             another repository (`pivot import`) cannot be read or reached
├── DataDiffError               exit 2: a data file that cannot be compared
├── ResourceError               exit 2: a stage asks for more of a resource than the run has
├── ServeError                  the control socket cannot be served (live server there, unsafe folder)
├── RpcError                    a control-socket request the server answers with a JSON-RPC error
└── GateClosed                  internal: the TUI's engine gate turned a waiting worker away
```

``StageFailed`` and its subclasses are raised inside a worker (or, for ``WorkerLost``, by an
executor) and caught by the engine, which turns them into a failed stage: the run goes on, the
user sees the message in the stage's log and the run summary, and the exit code is 1.

Not in the tree, on purpose: private control-flow signals that never leave their module
(``_NotCanonical`` in the fingerprint walker, ``_Cancelled`` and ``_NoSource`` in the remote
transfer code) and Textual messages such as ``EngineFailed``, which are not exceptions.

Messages say what went wrong, where (stage or path), and what to do next. The CLI prints
``str(error)`` on one line and maps :attr:`PivotError.exit_code` to the process exit code.
"""

from __future__ import annotations


class PivotError(Exception):
    """Base of all errors Pivot raises deliberately."""

    exit_code: int = 1


class UsageError(PivotError):
    """The command line asked for something that cannot be done."""

    exit_code = 2


class ProjectError(PivotError):
    """The project is missing, malformed, or a path escapes it."""

    exit_code = 2


class ConfigError(ProjectError):
    """A configuration file has a bad key or value."""


class PipelineError(PivotError):
    """pipeline.py cannot be loaded or describes an impossible pipeline."""

    exit_code = 2


class StageDefinitionError(PipelineError):
    """A stage function's signature or annotations cannot be turned into a stage."""


class CompositionError(StageDefinitionError):
    """A call of an ``@stage`` function inside a ``with Pipeline(...)`` block cannot become a
    stage: a plain value where a handle belongs, an unknown output key, a name clash."""


class GraphError(PipelineError):
    """The stages do not form a valid DAG over their artifacts."""


class MissingDependencyError(PivotError):
    """An optional library (pandas, pyarrow) that a stage's annotations ask for is not installed.

    Raised where the library is first needed, often inside a worker, so the message names the
    package to install."""

    exit_code = 2


class LockFileError(PivotError):
    """A lock file cannot be read."""

    exit_code = 2


class CacheError(PivotError):
    """A blob is missing from, or does not match its hash in, the cache."""


class CacheCorruptError(CacheError):
    """A cached blob's bytes do not match its name; it was moved out of the way, so a fetch
    from a remote (or a re-run) can put a good copy back."""


class FingerprintError(PivotError):
    """Code fingerprinting was asked something impossible (bad project root, unwritable store)."""


class IncrementalStateError(PivotError):
    """An incremental output's previous version cannot be restored."""


class StageFailed(PivotError):
    """One stage did not complete; the engine records it as failed and the run goes on."""


class StageOutputError(StageFailed):
    """The stage finished but did not produce what it declared."""


class CodeMismatchError(StageOutputError):
    """The worker's copy of the project code differs from the coordinator's."""


class WorkerLost(StageFailed):
    """The process running a stage disappeared (crash, kill, out of memory)."""


class RunInProgressError(PivotError):
    """Another process is running the pipeline of this project."""


class ExecutorError(PivotError):
    """The executor cannot be used."""


class DaskExecutorError(ExecutorError):
    """The Dask cluster cannot be reached or used."""


class CodeBundleError(ExecutorError):
    """The project's code cannot be shipped to the workers."""


class ResourceError(PivotError):
    """A stage asks for more of a resource than its capacity: it could never start."""

    exit_code = 2


class RemoteError(PivotError):
    """The remote cache cannot be reached or used, or one blob could not be moved."""


class RemoteUnavailableError(RemoteError):
    """No blob can succeed: the remote is unreachable, refuses the credentials, or has no
    such bucket or folder. A transfer stops at the first one."""


class BlobCorruptError(RemoteError):
    """Bytes whose xxhash64 is not the name they are stored under."""


class BlobMissingError(RemoteError):
    """The remote has no blob for this hash."""


class SourceRepoError(PivotError):
    """Another repository that data is imported from cannot be used: not a git repository,
    unreachable, or without the revision or the data asked for."""


class DataDiffError(PivotError):
    """A data file cannot be read or compared."""

    exit_code = 2


class ServeError(PivotError):
    """``pivot serve`` cannot listen: a live server already holds the socket, the path is not
    a socket, or its folder is not the user's own."""


class RpcError(PivotError):
    """A control-socket request the server refuses; ``code`` is the JSON-RPC error code sent
    back (docs/events.md lists them). Never leaves the server: it becomes an error response."""

    def __init__(self, code: int, message: str, data: object = None) -> None:
        super().__init__(message)
        self.code = code
        self.data = data


class GateClosed(PivotError):
    """Internal signal of the TUI: a worker waiting for the engine was cancelled, or the app
    is quitting; nothing ran. Caught by the worker itself, never shown to the user."""
