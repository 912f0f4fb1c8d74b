"""`prewarm tune`: the profile a model should run with, found on its own history.

    prewarm tune --trace code_week.csv --format azure2024 --profile llama.yaml
    prewarm tune --prometheus http://prom:9090 --model llama --profile llama.yaml --trials 60
    prewarm tune --series demand.csv                  # forecast error only: no requests

Two objectives (`--objective`):

replay (the default with --trace or --prometheus): every candidate profile (forecaster kind
and settings, forecast.quantile, target_utilisation, scaling.scale_down_delay_s,
scaling.max_up_replicas, within default bounds that --range/--choices narrow or extend) is
replayed through the simulator on the history, with the predictive engine `serve` runs;
the pick is the cheapest in GPU-hours whose SLO attainment reaches the profile's
ttft_slo_attainment. Optuna searches (TPE constrained on that attainment, seeded; the whole
space when it has no more points than --trials), --batch trials at a time through the
sweep's executors (local processes, or Ray with --ray-address) and its replay cache, so
points `prewarm sweep` replayed are read, not replayed (--cache-dir SWEEP_OUT/cache).
From Prometheus the model's token and request rates become a rate series (DIR/history.csv)
replayed like a `--format rate` trace. Writes DIR/profile.yaml (the whole profile, checked
to load as the one replayed, the evidence as comments above it) and DIR/tune.json (every
trial); prints the frontier and the evidence. When no candidate meets the SLO it says so,
writes DIR/closest-profile.yaml labelled NOT MEETING THE SLO, and exits 1.
Worked number (docs/tune.md): on the Azure 2024 code week at a 99.5 % target, 10 distinct
candidates of a 16-point space (17 replays for the full sweep) pick 1,749 GPU-h at 99.52 %,
2.2 % above the full sweep's best (1,710 GPU-h at 99.52 %) and 0.88x the profile as given
(1,997 GPU-h); with the sweep's cache, in 2 s and no replay.

forecast-error (the default with --series): each candidate of a small grid per kind
(simulations/tune/forecast_error.py) is backtested on the history; the objective is
under_weight x shortfall + over_weight x excess, where shortfall is the peak demand the plan
would not have covered and excess the capacity it would have left idle, both as shares of the
peak demand. Raise --under-weight when SLO misses cost more than GPUs (10 : 1 says one
token/s short is as bad as ten idle). Writes DIR/forecast.yaml (the winning `forecast:`
section, evidence as comments above it), DIR/tune.json (every trial), and with --profile
DIR/profile.yaml: that profile with the new forecast section, checked with
autoscaler/profile.py before it is written.

Bad options and inputs exit 2 naming what is wrong.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from autoscaler.backtest.prometheus import DEFAULT_LOOKBACK_S
from prewarm_cli.backtest import (
    KINDS_HELP,
    BucketOption,
    EndOption,
    FormatOption,
    LookbackOption,
    ModelOption,
    NamespaceOption,
    PrometheusOption,
    QuantityOption,
    SeriesOption,
    StrideOption,
    TraceOption,
    WarmupOption,
    check_warmup,
    describe,
    input_errors,
    make_out_dir,
    parse_kinds,
    progress,
    source_spec,
    stride_buckets,
)
from prewarm_cli.options import FromOption, LengthScaleOption, RateScaleOption, UntilOption
from prewarm_cli.tune_replay import (
    DEFAULT_BATCH,
    DEFAULT_TRIALS,
    BatchOption,
    CacheDirOption,
    ChoicesOption,
    CvOption,
    MaxRequestsOption,
    ObjectiveOption,
    ProcessOption,
    RangeOption,
    RayAddressOption,
    ReplayOptions,
    ReplaySeedOption,
    SeedOption,
    SpaceOption,
    TrialsOption,
    WorkersOption,
    choose_objective,
    error,
    run_replay_tune,
)
from simulations.backtest.loaders import QUANTITIES

DEFAULT_HORIZON_S = 300.0
TABLE_ROWS = 12  # the terminal shows the leaders; files hold every trial


def parse_quantiles(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--quantiles must be numbers like 0.9,0.95, got {text!r}") from None
    bad = [q for q in values if not 0.5 < q < 1]
    if bad or not values:
        raise ValueError(f"--quantiles must lie in (0.5, 1), got {text!r}")
    return values


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.1%}"


def trials_table(rows: list[dict[str, Any]], title: str) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, title=title, title_justify="left", pad_edge=False,
        collapse_padding=True,
    )  # fmt: skip
    table.add_column("#", justify="right")
    table.add_column("candidate", no_wrap=True)
    for name in ("objective", "short", "excess", "WAPE", "cov."):
        table.add_column(name, justify="right", no_wrap=True)
    for rank, row in enumerate(rows, 1):
        table.add_row(
            str(rank),
            row["candidate"],
            "-" if row["objective"] is None else f"{row['objective']:.4f}",
            _pct(row["shortfall"] if row["shortfall"] is not None else float("nan")),
            _pct(row["excess"] if row["excess"] is not None else float("nan")),
            "-" if row["wape"] is None else f"{row['wape']:.3f}",
            _pct(row["coverage"] if row["coverage"] is not None else float("nan")),
        )
    return table


def evidence_comment(header: list[str], rows: list[dict[str, Any]]) -> str:
    """The ranking as YAML comments, so the file explains itself in a pull request."""
    lines = [f"# {line}" for line in header]
    lines.append(f"# {'#':>3} {'objective':>9} {'short':>7} {'excess':>7} {'WAPE':>6}  candidate")
    for rank, row in enumerate(rows, 1):
        objective = "-" if row["objective"] is None else f"{row['objective']:.4f}"
        lines.append(
            f"# {rank:>3} {objective:>9} {_pct(row['shortfall'] or 0.0):>7} "
            f"{_pct(row['excess'] or 0.0):>7} {(row['wape'] or 0.0):>6.3f}  {row['candidate']}"
        )
    return "\n".join(lines) + "\n"


def tune_command(
    series: SeriesOption = None,
    trace: TraceOption = None,
    fmt: FormatOption = None,
    rate_scale: RateScaleOption = 1.0,
    length_scale: LengthScaleOption = 1.0,
    from_s: FromOption = None,
    until_s: UntilOption = None,
    prometheus: PrometheusOption = None,
    model: ModelOption = None,
    namespace: NamespaceOption = None,
    lookback_s: LookbackOption = DEFAULT_LOOKBACK_S,
    end_s: EndOption = None,
    quantity: QuantityOption = QUANTITIES[0],
    bucket_s: BucketOption = None,
    horizon_s: Annotated[
        float | None,
        typer.Option(help="look-ahead, s (default: the profile's cold start + interval, or 300)"),
    ] = None,
    profile: Annotated[
        Path | None,
        typer.Option(
            help="model profile (default: the bundled example): replay starts from it and "
            "keeps its SLO; forecast-error writes it back with the tuned forecast"
        ),
    ] = None,
    forecasters: Annotated[str | None, typer.Option(help=KINDS_HELP)] = None,
    quantiles: Annotated[
        str, typer.Option(help="upper quantiles to try, comma-separated")
    ] = "0.9,0.95,0.98",
    under_weight: Annotated[
        float, typer.Option(min=0, help="cost of one unit of unmet peak demand (SLO risk)")
    ] = 10.0,
    over_weight: Annotated[
        float, typer.Option(min=0, help="cost of one unit of idle provisioned peak (GPU cost)")
    ] = 1.0,
    stride_s: StrideOption = None,
    warmup_s: WarmupOption = None,
    out: Annotated[
        Path,
        typer.Option(
            help="directory for profile.yaml, tune.json, cache/ (replay) or forecast.yaml, "
            "tune.json (forecast-error)"
        ),
    ] = Path("out/tune"),
    json_out: Annotated[
        bool, typer.Option("--json", help="print tune.json to stdout instead of a table")
    ] = False,
    objective: ObjectiveOption = None,
    range_: RangeOption = None,
    choices: ChoicesOption = None,
    space: SpaceOption = "default",
    trials: TrialsOption = DEFAULT_TRIALS,
    batch: BatchOption = DEFAULT_BATCH,
    seed: SeedOption = 0,
    replay_seed: ReplaySeedOption = 0,
    workers: WorkersOption = None,
    ray_address: RayAddressOption = None,
    cache_dir: CacheDirOption = None,
    process: ProcessOption = "poisson",
    cv: CvOption = 1.0,
    max_requests: MaxRequestsOption = None,
) -> None:
    """Find the profile that meets the SLO at the fewest GPU-hours by replaying the model's
    history (--objective replay), or rank forecaster settings by forecast error."""
    try:
        chosen = choose_objective(
            objective,
            replayable=trace is not None or prometheus is not None,
            forecast_error_given={
                "--forecasters": forecasters is not None,
                "--quantiles": quantiles != "0.9,0.95,0.98",
                "--under-weight": under_weight != 10.0,
                "--over-weight": over_weight != 1.0,
                "--horizon-s": horizon_s is not None,
                "--stride-s": stride_s is not None,
                "--quantity": quantity != QUANTITIES[0],
            },
            replay_given={
                "--range": bool(range_),
                "--choices": bool(choices),
                "--space": space != "default",
                "--trials": trials != DEFAULT_TRIALS,
                "--batch": batch != DEFAULT_BATCH,
                "--seed": seed != 0,
                "--replay-seed": replay_seed != 0,
                "--workers": workers is not None,
                "--ray-address": ray_address is not None,
                "--cache-dir": cache_dir is not None,
                "--process": process != "poisson",
                "--cv": cv != 1.0,
                "--max-requests": max_requests is not None,
            },
        )
    except ValueError as exc:
        raise error(Console(stderr=json_out), str(exc)) from None
    if chosen == "replay":
        run_replay_tune(
            ReplayOptions(
                trace=trace,
                fmt=fmt,
                rate_scale=rate_scale,
                length_scale=length_scale,
                from_s=from_s,
                until_s=until_s,
                prometheus=prometheus,
                model=model,
                namespace=namespace,
                lookback_s=lookback_s,
                end_s=end_s,
                bucket_s=bucket_s,
                profile=profile,
                ranges=range_ or [],
                choices=choices or [],
                space=space,
                trials=trials,
                batch=batch,
                seed=seed,
                replay_seed=replay_seed,
                warmup_s=warmup_s,
                process=process,
                cv=cv,
                max_requests=max_requests,
                workers=workers,
                ray_address=ray_address,
                cache_dir=cache_dir,
                out=out,
                json_out=json_out,
                series=series,
            )  # fmt: skip
        )
        return
    from autoscaler.backtest.evaluate import check_scorable, default_warmup_s
    from autoscaler.backtest.rolling import horizon_steps
    from autoscaler.profile import (
        ModelProfile,
        ProfileError,
        load_profile,
        parse_profile,
        read_yaml,
    )
    from simulations.tune.forecast_error import candidates, ranked, run_trial

    console = Console(stderr=json_out)
    spec = source_spec(
        series, trace, fmt, prometheus, model, namespace, lookback_s, end_s, quantity, bucket_s,
        rate_scale, length_scale, from_s, until_s,
    )  # fmt: skip
    base: ModelProfile | None = None
    with input_errors(console):
        for name, weight in (("--under-weight", under_weight), ("--over-weight", over_weight)):
            if not math.isfinite(weight):  # inf x 0 shortfall is NaN: every objective NaN
                raise ValueError(f"{name} must be a finite number, got {weight:g}")
        if under_weight == 0 and over_weight == 0:
            raise ValueError("--under-weight and --over-weight cannot both be 0")
        kinds = parse_kinds(forecasters)
        qs = parse_quantiles(quantiles)
        if profile is not None:
            try:
                base = load_profile(profile)
            except ProfileError as exc:
                raise ValueError(str(exc)) from None
        if horizon_s is not None:  # 0 is an error for horizon_steps, not "use the default"
            horizon = horizon_s
        else:
            horizon = base.horizon_s if base is not None else DEFAULT_HORIZON_S
        demand = spec.load()
        steps = horizon_steps(horizon, demand.bucket_s)
        stride = stride_buckets(stride_s, demand.bucket_s)
        warmup = default_warmup_s(demand) if warmup_s is None else check_warmup(warmup_s)
        grid = candidates(kinds, demand, qs)
        skipped = _skipped_kinds(kinds, grid, demand.bucket_s, qs[0])
        if not grid:
            reasons = "; ".join(f"{k}: {r}" for k, r in skipped.items())
            raise ValueError(f"no candidate can run on this series: {reasons}")
        check_scorable(demand, steps, stride, warmup)
        # Every candidate has the series' bucket: if the first cannot load in the profile (a
        # bucket under its decision interval), none can, so say so before the search. The
        # winner is checked again before it is written.
        _check_loadable(grid[0].settings.model_dump(mode="json"), base)
        make_out_dir(out)
    console.print(describe(demand), highlight=False)
    for kind, reason in skipped.items():
        console.print(f"[yellow]skipped {kind}:[/yellow] {reason}", highlight=False)
    console.print(
        f"{len(grid)} candidates, horizon {horizon:g} s = {steps} bucket(s), objective "
        f"{under_weight:g} x shortfall + {over_weight:g} x excess",
        highlight=False,
    )
    scored = []
    with progress(console, "candidates") as bar, input_errors(console):
        task = bar.add_task("candidates", total=len(grid))
        for i, candidate in enumerate(grid):

            def on_progress(done: int, total: int, i: int = i) -> None:
                bar.update(task, completed=i + done / max(total, 1))

            bar.update(task, description=candidate.kind)
            scored.append(
                run_trial(
                    candidate,
                    demand,
                    steps,
                    horizon_s=horizon,
                    stride=stride,
                    warmup_s=warmup,
                    under_weight=under_weight,
                    over_weight=over_weight,
                    on_progress=on_progress,
                )  # fmt: skip
            )
    best_first = ranked(scored)
    rows = [_row(t) for t in best_first]
    best = best_first[0].candidate.settings.model_dump(mode="json")
    header = [
        f"prewarm tune on {demand.name} ({demand.source}), {demand.unit}",
        f"horizon {horizon:g} s ({steps} x {demand.bucket_s:g} s buckets), "
        f"{best_first[0].score.origins_scored} origins scored after {warmup:g} s warm-up",
        f"objective = {under_weight:g} x shortfall + {over_weight:g} x excess "
        "(shares of peak demand over the horizon; lower is better)",
    ]
    with input_errors(console):
        _check_loadable(best, base)
    section = yaml.safe_dump({"forecast": best}, sort_keys=False)
    (out / "forecast.yaml").write_text(evidence_comment(header, rows) + section)
    doc = {
        "horizon_s": horizon,
        "horizon_steps": steps,
        "under_weight": under_weight,
        "over_weight": over_weight,
        "series": describe_json(demand),
        "best": best,
        "trials": rows,
    }
    if skipped:
        doc["skipped"] = skipped
    (out / "tune.json").write_text(json.dumps(doc, indent=2) + "\n")
    written = [out / "forecast.yaml", out / "tune.json"]
    if profile is not None:
        with input_errors(console):
            try:
                # Read again (loaded above) for the operator's own keys, through the same
                # loader: duplicate keys and the like were refused the first time.
                raw = read_yaml(profile, "profile file")
                assert isinstance(raw, dict)  # it loaded as a profile
                raw["forecast"] = best
                parse_profile(raw, str(profile))
            except ProfileError as exc:
                raise ValueError(f"the tuned profile does not validate: {exc}") from None
        (out / "profile.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
        written.append(out / "profile.yaml")
    if json_out:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    shown = rows[:TABLE_ROWS]
    more = f"; all {len(rows)} in tune.json" if len(rows) > len(shown) else ""
    console.print(trials_table(shown, f"best first{more}"))
    console.print(header[2], style="dim", highlight=False)
    console.print(f"Best: [bold]{rows[0]['candidate']}[/bold]")
    console.print("Wrote " + ", ".join(str(p) for p in written))


def _skipped_kinds(
    kinds: list[str], grid: list[Any], bucket_s: float, quantile: float
) -> dict[str, str]:
    """Kinds with no candidate at all, and why: without this a series whose bucket does not
    divide a day searched last-value alone and never said so."""
    from autoscaler.backtest.run import kind_settings

    searched = {c.kind for c in grid}
    _, reasons = kind_settings(kinds, bucket_s, quantile)
    return {
        kind: reasons.get(kind, "no combination of its settings is valid on this series")
        for kind in kinds
        if kind not in searched
    }


def _check_loadable(forecast: dict[str, Any], base: Any) -> None:
    """The section must load through autoscaler/profile.py: try it in a real profile."""
    from autoscaler.profile import ProfileError, load_profile, parse_profile
    from prewarm_cli.simulate import BUNDLED_PROFILE

    profile = base if base is not None else load_profile(BUNDLED_PROFILE)
    data = profile.model_dump(mode="json")
    data["forecast"] = forecast
    try:
        parse_profile(data, "tuned forecast section")
    except ProfileError as exc:
        raise ValueError(str(exc)) from None


def _row(trial: Any) -> dict[str, Any]:
    from autoscaler.backtest.evaluate import json_number

    s = trial.score
    return {
        "candidate": trial.candidate.label,
        "kind": trial.candidate.kind,
        "overrides": trial.candidate.overrides,
        "objective": json_number(trial.objective),
        "shortfall": json_number(s.shortfall),
        "excess": json_number(s.excess),
        "under_provisioned_fraction": json_number(s.under_provisioned_fraction),
        "wape": json_number(s.wape),
        "coverage": json_number(s.coverage),
        "peak_coverage": json_number(s.peak_coverage),
        "quantile": s.quantile,
    }


def describe_json(demand: Any) -> dict[str, Any]:
    from autoscaler.backtest.evaluate import json_number

    return {k: json_number(v) for k, v in demand.describe().items()}
