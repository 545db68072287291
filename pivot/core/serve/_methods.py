"""The methods that reach the engine or the disk; each runs in a worker thread.

Each takes the request's :class:`Params` and returns plain JSON data: the same documents
the CLI's ``--json`` prints (``status``, ``explain``, ``params show``, ``data diff``), so a
client that knows one knows the other. See docs/events.md, "Control socket".
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from pivot.core.run.engine import Engine, RunRequest
from pivot.core.serve._engine_host import EngineHost
from pivot.core.serve._params import Params
from pivot.core.serve._rpc import INVALID_PARAMS, UNKNOWN_STAGE
from pivot.exceptions import RpcError

Handler = Callable[[Params], Any]


def _check_stages(engine: Engine, names: tuple[str, ...]) -> None:
    pipeline, _ = engine.load()
    for name in names:
        if name not in pipeline:
            known = ", ".join(sorted(pipeline.stages)) or "none"
            raise RpcError(
                UNKNOWN_STAGE, f"unknown stage '{name}' (stages: {known})", data={"stage": name}
            )


class EngineMethods:
    """``run``, ``cancel``, ``status``, ``explain``, ``stage``, ``params`` and ``data_diff``."""

    def __init__(self, host: EngineHost) -> None:
        self.host = host

    def table(self) -> dict[str, Handler]:
        return {
            "status": self.status,
            "explain": self.explain,
            "stage": self.stage,
            "params": self.params,
            "data_diff": self.data_diff,
            "cancel": self.cancel,
        }

    # -- runs ----------------------------------------------------------------------------------

    def run(self, params: Params) -> concurrent.futures.Future[str]:
        """Start a run; the future gives its id (the server waits for it off its loop)."""
        request = RunRequest(
            targets=params.strings("stages"),
            force=params.flag("force"),
            keep_going=params.flag("keep_going"),
            dry_run=params.flag("dry_run"),
            no_deps=params.flag("no_deps"),
        )
        params.done()
        self.host.query(lambda engine: _check_stages(engine, request.targets))
        return self.host.start_run(request)

    def cancel(self, params: Params) -> dict[str, Any]:
        params.done()
        run_id = self.host.cancel()
        return {"cancelled": run_id is not None, "run_id": run_id}

    # -- queries -------------------------------------------------------------------------------

    def status(self, params: Params) -> dict[str, Any]:
        stages = params.strings("stages")
        params.done()

        def work(engine: Engine) -> dict[str, Any]:
            from pivot.core.run.status import status_row
            from pivot.core.run.track import tracked_status

            _check_stages(engine, stages)
            pipeline, _ = engine.load()
            rows = [
                status_row(decision, resources=pipeline[decision.stage].resources)
                for decision in engine.plan(stages)
            ]
            tracked = [] if stages else [t.to_dict() for t in tracked_status(engine.project)]
            return {"stages": rows, "tracked": tracked}

        result = self.host.query(work)
        result["run_id"] = self.host.run_id if self.host.running else None
        return result

    def explain(self, params: Params) -> dict[str, Any]:
        stage = params.string("stage", required=True)
        force = params.flag("force")
        params.done()

        def work(engine: Engine) -> dict[str, Any]:
            from pivot.core.run.explain import explain

            _check_stages(engine, (stage,))
            found = [e for e in explain(engine, (stage,), force=force) if e.stage == stage]
            return found[0].to_dict()

        return self.host.query(work)

    def stage(self, params: Params) -> dict[str, Any]:
        name = params.string("name", required=True)
        params.done()

        def work(engine: Engine) -> dict[str, Any]:
            _check_stages(engine, (name,))
            return _stage_info(engine, name)

        return self.host.query(work)

    def params(self, params: Params) -> dict[str, Any]:
        stage = params.string("stage")
        params.done()

        def work(engine: Engine) -> dict[str, Any]:
            from pivot.core.pipeline.params import ParamsFiles
            from pivot.core.reports.params_diff import stage_params

            names: tuple[str, ...] = (stage,) if stage else ()
            _check_stages(engine, names)
            pipeline, graph = engine.load()
            files = ParamsFiles.workspace(engine.project.root)
            shown = {name: stage_params(pipeline[name], files) for name in names or graph.order}
            return {
                "stages": {
                    name: {p.name: {"value": p.value, "source": p.source} for p in values}
                    for name, values in shown.items()
                    if values or stage
                }
            }

        return self.host.query(work)

    def data_diff(self, params: Params) -> dict[str, Any]:
        path = params.string("path", required=True)
        rev = params.string("rev", default="HEAD")
        keys = params.strings("keys")
        max_rows = params.integer("max_rows", default=1000, maximum=100_000)
        params.done()
        pure = PurePosixPath(path)
        if pure.is_absolute() or ".." in pure.parts:
            raise RpcError(INVALID_PARAMS, f"data_diff: '{path}' must be relative to the project")
        from pivot.core.reports.datadiff import compute_data_diff

        root = self.host.engine.project.root
        return compute_data_diff(root, path, rev=rev, keys=keys, max_rows=max_rows).to_dict()


def _stage_info(engine: Engine, name: str) -> dict[str, Any]:
    """What a stage reads, writes and runs with, its code fingerprint and its lock."""
    from pivot.core.pipeline.params import stage_values

    pipeline, graph = engine.load()
    spec = pipeline[name]
    planner = engine.planner()
    try:
        fingerprint = planner.code.fingerprint(spec)
        values = stage_values(spec, planner.params_files)
    finally:
        planner.flush()
    lock = engine.project.locks.read(name)
    return {
        "name": name,
        "function": f"{spec.func.__module__}.{spec.func.__qualname__}",
        "deps": list(spec.dep_paths),
        "outs": [{"path": out.path, "kind": out.kind, "cached": out.cached} for out in spec.outs],
        "params_model": getattr(spec.params_model, "__name__", None),
        "params": values,
        "upstream": graph.ordered(graph.upstream.get(name, ())),
        "downstream": graph.ordered(graph.downstream.get(name, ())),
        "fingerprint": dict(fingerprint.manifest),
        "warnings": list(fingerprint.warnings),
        "lock": lock.to_dict() if lock is not None else None,
    }
