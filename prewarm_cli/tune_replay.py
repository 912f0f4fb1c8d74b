"""`prewarm tune`'s replay objective: the wiring (the search is simulations/tune/).

Parses what `tune` was given into a search space, a trace to replay (a file, or the model's
Prometheus history written as a rate series) and an executor; runs the search with a progress
bar; prints the frontier and the evidence; writes DIR/profile.yaml (or, when no candidate
meets the SLO, DIR/closest-profile.yaml labelled as not meeting it, and exit 1) and
DIR/tune.json.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.columns import Columns
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

if TYPE_CHECKING:
    from autoscaler.profile import ModelProfile
    from simulations.sweep.cache import ResultCache
    from simulations.sweep.executor import SweepExecutor
    from simulations.sweep.plan import SweepTrace
    from simulations.tune.replay_search import SearchOutcome, TrialRecord
    from simulations.tune.search_space import SearchSpace

OBJECTIVES = ("replay", "forecast-error")
DEFAULT_TRIALS = 40
DEFAULT_BATCH = 4  # simulations.tune.replay_search.DEFAULT_BATCH (not imported: the CLI is lazy)

ObjectiveOption = Annotated[
    str | None,
    typer.Option(
        help="replay: the cheapest profile (GPU-hours) whose replay meets the profile's "
        "ttft_slo_attainment (default with --trace or --prometheus) | forecast-error: rank "
        "forecaster settings by cost-weighted forecast error (default with --series, or "
        "when --forecasters, --quantiles, --under-weight, ... are given)"
    ),
]
RangeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--range",
        metavar="PATH=LOW:HIGH[:STEP]",
        help="replay: search this profile path over a range, repeatable; narrows a default "
        "axis or adds one, e.g. target_utilisation=0.5:0.9",
    ),
]
ChoicesOption = Annotated[
    list[str] | None,
    typer.Option(
        "--choices",
        metavar="PATH=A,B,...",
        help="replay: search this profile path over these values, repeatable, e.g. "
        "forecast.kind=holt-winters,ensemble",
    ),
]
SpaceOption = Annotated[
    str,
    typer.Option(
        help="replay: default (the default axes, narrowed or extended by --range/--choices) | "
        "given (only the --range/--choices axes; the rest as the profile has it)"
    ),
]
TrialsOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="replay: distinct candidates to replay (a finite space no larger is tried "
        "whole; candidates the sampler proposes again are not counted)",
    ),
]
BatchOption = Annotated[
    int,
    typer.Option(
        min=1,
        help="replay: trials asked at once and replayed in parallel (the trials depend on "
        "the seed and this, not on --workers or Ray)",
    ),
]
SeedOption = Annotated[int, typer.Option(min=0, help="replay: seed of the search")]
ReplaySeedOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="replay: seed for arrivals and cold-start jitter (prewarm sweep's --seed; the "
        "same to reuse its replays)",
    ),
]
WorkersOption = Annotated[
    int | None, typer.Option(min=1, help="replay: worker processes (default: every core)")
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        metavar="auto|ray://HOST:PORT",
        help="replay: run each replay as a task on this Ray cluster (as prewarm sweep does)",
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        help="replay: the replay cache (default DIR/cache); give a sweep's cache (its "
        "--out/cache) to reuse the points it replayed"
    ),
]
ProcessOption = Annotated[str, typer.Option(help="replay, rate series: arrivals poisson | gamma")]
CvOption = Annotated[float, typer.Option(min=0.01, help="replay: gamma inter-arrival CV")]
MaxRequestsOption = Annotated[
    int | None,
    typer.Option(min=1, help="replay, rate series: keep only the earliest N requests"),
]

PROFILE_NAME = "profile.yaml"
CLOSEST_NAME = "closest-profile.yaml"
HEADER_MARK = "Tuned by replay"  # the first comment line of every profile.yaml tune writes
NOT_MEETING = "NOT MEETING THE SLO: the closest candidate, not a recommendation."


@dataclass(frozen=True)
class ReplayOptions:
    """What the replay objective reads from `prewarm tune`'s options."""

    trace: Path | None
    fmt: str | None
    prometheus: str | None
    model: str | None
    namespace: str | None
    lookback_s: float
    end_s: float | None
    bucket_s: float | None
    profile: Path | None
    ranges: list[str]
    choices: list[str]
    space: str
    trials: int
    batch: int
    seed: int
    replay_seed: int
    warmup_s: float | None
    process: str
    cv: float
    max_requests: int | None
    workers: int | None
    ray_address: str | None
    cache_dir: Path | None
    out: Path
    json_out: bool
    series: Path | None = None  # given only to be refused: a demand series has no requests
    rate_scale: float = 1.0  # of a --trace only: Prometheus history is replayed as it was
    length_scale: float = 1.0
    from_s: float | None = None  # of a --trace only, likewise
    until_s: float | None = None


def choose_objective(
    objective: str | None,
    replayable: bool,
    forecast_error_given: dict[str, bool],
    replay_given: dict[str, bool],
) -> str:
    """The objective asked for, or the default: replay when the input can be replayed and no
    option only forecast-error reads is given (`tune --trace F --forecasters a,b` as it ran
    before replay existed still ranks forecasts). ValueError naming an option the chosen
    objective does not read."""
    if objective is not None and objective not in OBJECTIVES:
        raise ValueError(f"unknown --objective {objective!r}; choose from {', '.join(OBJECTIVES)}")
    inferred = (
        "replay" if replayable and not any(forecast_error_given.values()) else "forecast-error"
    )
    chosen = objective or inferred
    misplaced, other = (
        (forecast_error_given, "forecast-error") if chosen == "replay" else (replay_given, "replay")
    )
    wrong = [name for name, given in misplaced.items() if given]
    if wrong:
        raise ValueError(
            f"{', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} for --objective {other}; "
            f"this run's objective is {chosen}"
        )
    return chosen


def error(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(2)


def _check(opts: ReplayOptions) -> None:
    """Option problems before any I/O, each naming its option (ValueError)."""
    from simulations.sweep.ray_executor import check_address
    from simulations.traces.formats import FORMAT_NAMES
    from simulations.traces.inputs import check_trace_options
    from simulations.traces.scale import TraceScale, check_scale
    from simulations.traces.window import TraceWindow, check_window

    if opts.series is not None:
        raise ValueError(
            "--series is a demand series, without requests to replay: use --trace FILE "
            "--format rate for a rate series, or --objective forecast-error"
        )
    if (opts.trace is None) == (opts.prometheus is None):
        raise ValueError(
            "the replay objective needs exactly one of --trace (with --format) or --prometheus "
            "(with --model); --series is a demand series, for --objective forecast-error"
        )
    if opts.trace is not None and opts.fmt is None:
        raise ValueError(f"--trace needs --format; choose from {', '.join(FORMAT_NAMES)}")
    if opts.prometheus is not None and not opts.model:
        raise ValueError("--prometheus needs --model (vLLM's model_name label)")
    if opts.trace is not None:
        given = {"--model": opts.model, "--namespace": opts.namespace, "--end-s": opts.end_s,
                 "--bucket-s": opts.bucket_s}  # fmt: skip
        unused = [name for name, value in given.items() if value is not None]
        if unused:
            raise ValueError(
                f"{', '.join(unused)} read Prometheus history (--prometheus); a --trace is "
                "replayed as it is"
            )
    fmt = opts.fmt if opts.trace is not None else "rate"
    scale = TraceScale(opts.rate_scale, opts.length_scale)
    check_scale(scale, fmt or "", has_trace=opts.trace is not None)
    window = TraceWindow(opts.from_s, opts.until_s)
    check_window(window, has_trace=opts.trace is not None)
    check_trace_options(True, fmt or "", opts.process, opts.cv, opts.max_requests, scale, window)
    if opts.warmup_s is not None and not (math.isfinite(opts.warmup_s) and opts.warmup_s >= 0):
        raise ValueError(f"--warmup-s must be a finite number of seconds >= 0, got {opts.warmup_s}")
    if opts.ray_address is not None:
        if opts.workers is not None:
            raise ValueError("--workers is for local processes: drop it with --ray-address")
        check_address(opts.ray_address)
    if opts.out.exists() and not opts.out.is_dir():
        raise ValueError(f"--out {opts.out}: exists and is not a directory")
    if opts.cache_dir is not None and opts.cache_dir.exists() and not opts.cache_dir.is_dir():
        raise ValueError(f"--cache-dir {opts.cache_dir}: exists and is not a directory")


def _trace(console: Console, opts: ReplayOptions, base: ModelProfile) -> SweepTrace:
    """The trace to replay, loaded once to check it and take its digest."""
    from simulations.sweep.plan import load_traces
    from simulations.sweep.tasks import TraceRef
    from simulations.tune.prometheus_history import DEFAULT_BUCKET_S, fetch_history

    if opts.trace is not None:
        assert opts.fmt is not None
        ref = TraceRef(
            str(opts.trace), opts.fmt, opts.replay_seed, opts.process, opts.cv, opts.max_requests,
            opts.rate_scale, opts.length_scale, opts.from_s, opts.until_s,
        )  # fmt: skip
    else:
        assert opts.prometheus is not None and opts.model is not None
        end_s = time.time() if opts.end_s is None else opts.end_s
        history = fetch_history(
            opts.prometheus,
            opts.model,
            opts.out / "history.csv",
            end_s=end_s,
            lookback_s=opts.lookback_s,
            bucket_s=opts.bucket_s or DEFAULT_BUCKET_S,
            namespace=opts.namespace,
            typical=base.typical_request,
        )
        gaps = f", {history.gaps} steps without samples held" if history.gaps else ""
        console.print(
            f"{history.source}: {history.rows:,} rows of {opts.bucket_s or DEFAULT_BUCKET_S:g} s "
            f"written to {history.path} (requests/s from {history.requests_from}{gaps})",
            highlight=False,
        )
        ref = TraceRef(
            str(history.path), "rate", opts.replay_seed, opts.process, opts.cv, opts.max_requests
        )
    return load_traces([ref], opts.warmup_s)[0]


def _executor(console: Console, opts: ReplayOptions, code: str) -> tuple[SweepExecutor, str]:
    """The sweep's executors: local processes, or its Ray executor (exit 2 when Ray cannot
    be reached)."""
    from simulations.sweep.executor import default_workers, local_executor

    if opts.ray_address is None:
        workers = opts.workers or default_workers()
        # Kept between batches: a worker loads the trace once for the whole search.
        return local_executor(workers, keep_pool=True), f"{workers} workers"
    from simulations.sweep.ray_executor import RaySweepExecutor, RayUnavailable, connect

    try:
        ray = connect(opts.ray_address)
    except (RayUnavailable, ValueError) as exc:
        raise error(console, str(exc)) from None
    executor = RaySweepExecutor(ray, code=code, keep_traces=True)
    return executor, f"Ray at {opts.ray_address} ({executor.cpus} CPUs)"


def run_replay_tune(opts: ReplayOptions) -> None:
    """`prewarm tune` with the replay objective (see the module doc)."""
    from autoscaler.metrics.source import MetricSourceError
    from autoscaler.profile import ProfileError
    from prewarm_cli.inputs import cli_profile
    from prewarm_cli.replay_errors import replay_failures_reported
    from simulations.sweep.cache import ResultCache, code_fingerprint
    from simulations.sweep.executor import close_executor
    from simulations.tune.search_space import build_space

    console = Console(stderr=opts.json_out)
    try:
        _check(opts)
        base = cli_profile(opts.profile)
        space = build_space(base, opts.ranges, opts.choices, opts.space)
        opts.out.mkdir(parents=True, exist_ok=True)
        trace = _trace(console, opts, base)
    except (ValueError, FileNotFoundError, MetricSourceError, ProfileError) as exc:
        raise error(console, str(exc)) from None
    except OSError as exc:
        message = f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc)
        raise error(console, message) from None
    code = code_fingerprint()
    executor, where = _executor(console, opts, code)
    cache_dir = opts.cache_dir or opts.out / "cache"
    console.print(
        f"Tune by replay on {trace.label} ({trace.info['requests']:,} requests, "
        f"{trace.warmup_s / 3600:.1f} h warm-up): fewest GPU-hours with TTFT <= "
        f"{base.ttft_slo_s:g} s for >= {base.ttft_slo_attainment:.2%} of requests\n"
        f"Space: {space.describe()}\n{opts.trials} trials in batches of {opts.batch}, "
        f"seed {opts.seed}; {where}; cache {cache_dir}",
        highlight=False,
    )
    try:
        with replay_failures_reported(
            console, cache_dir, resume=" (the same seed asks the same trials)"
        ):
            outcome = _search(
                console, opts, space, base, trace, executor, ResultCache(cache_dir), code
            )
    finally:
        close_executor(executor)
        if opts.ray_address is not None:
            from simulations.sweep.ray_executor import disconnect

            disconnect()
    _report(console, opts, outcome, base, trace, space, code)


def _search(
    console: Console,
    opts: ReplayOptions,
    space: SearchSpace,
    base: ModelProfile,
    trace: SweepTrace,
    executor: SweepExecutor,
    cache: ResultCache,
    code: str,
) -> SearchOutcome:
    from simulations.report.table import gpu_hours_text, percent_text
    from simulations.tune.replay_search import replay_search

    with Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        size = space.size
        total = size if size is not None and size <= opts.trials else opts.trials
        progress = bar.add_task("trials", total=total, note="")
        best: list[TrialRecord] = []

        def on_trial(record: TrialRecord) -> None:
            if record.feasible and (not best or record.gpu_hours < best[0].gpu_hours):
                best[:] = [record]
            note = (
                f"best so far: #{best[0].number} {gpu_hours_text(best[0].gpu_hours)} GPU-h, "
                f"{percent_text(best[0].slo_attainment)} %"
                if best
                else "none meets the SLO yet"
            )
            bar.update(progress, advance=0 if record.repeat_of is not None else 1, note=note)

        return replay_search(
            space,
            base,
            trace,
            trials=opts.trials,
            seed=opts.seed,
            replay_seed=opts.replay_seed,
            batch=opts.batch,
            executor=executor,
            cache=cache,
            code=code,
            on_trial=on_trial,
        )


def _report(
    console: Console,
    opts: ReplayOptions,
    outcome: SearchOutcome,
    base: ModelProfile,
    trace: SweepTrace,
    space: SearchSpace,
    code: str,
) -> None:
    from autoscaler.profile import ProfileError
    from simulations.tune.candidate import candidate_profile
    from simulations.tune.profile_writer import write_profile
    from simulations.tune.report import (
        evidence_lines,
        evidence_table,
        frontier_table,
        headline,
        tune_json,
        write_json,
    )

    pick = outcome.pick
    written: list[Path] = []
    profile_path: Path | None = None
    try:
        if pick is not None:
            name = PROFILE_NAME if outcome.best is not None else CLOSEST_NAME
            profile_path = opts.out / name
            tuned = candidate_profile(base, pick.params, f"trial {pick.number}")
            lines = evidence_lines(outcome, base, trace, space)
            if outcome.best is None:
                lines = [NOT_MEETING, *lines]
                _drop_stale_profile(opts.out / PROFILE_NAME)
            written.append(write_profile(profile_path, tuned, lines))
        doc = tune_json(
            outcome, base, trace, space, seed=opts.seed, replay_seed=opts.replay_seed,
            code=code, batch=opts.batch, profile_path=profile_path,
        )  # fmt: skip
        written.append(write_json(opts.out / "tune.json", doc))
    except ProfileError as exc:
        raise error(console, f"the tuned profile does not validate: {exc}") from None
    except OSError as exc:
        raise error(console, f"--out {opts.out}: {exc}") from None
    if opts.json_out:
        json.dump(doc, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        console.print(Columns([frontier_table(outcome), evidence_table(outcome)]))
        console.print(
            f"{len(outcome.trials)} trials ({outcome.sampler}), {len(outcome.distinct)} distinct "
            f"candidates; replays (the profile as given among them): {outcome.replayed} run, "
            f"{outcome.cached} read from the cache",
            highlight=False,
        )
    if outcome.note:
        console.print(f"[yellow]note:[/yellow] {escape(outcome.note)}", highlight=False)
    style = "bold" if outcome.best is not None else "bold red"
    console.print(headline(outcome, base), style=style, highlight=False)
    console.print("Wrote " + ", ".join(str(p) for p in written), highlight=False)
    if outcome.best is None:
        raise typer.Exit(1)


def _drop_stale_profile(path: Path) -> None:
    """A profile.yaml an earlier run of tune wrote would read as this run's answer."""
    try:
        first = path.read_text().splitlines()[:1]
    except OSError:
        return
    if first and HEADER_MARK in first[0]:
        path.unlink()
