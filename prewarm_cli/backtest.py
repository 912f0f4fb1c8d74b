"""`prewarm backtest`: rolling-origin evaluation of forecasters on a model's history.

    prewarm backtest --series demand.csv                       # CSV t_s,value (tokens/s)
    prewarm backtest --trace aggregate_m-small.csv --format servegen --horizon-s 600
    prewarm backtest --prometheus http://prom:9090 --model llama --lookback-s 604800

Writes DIR/backtest.json (`{"horizon_s", "forecasters": {kind: {wape, mase, pinball,
coverage, peak_coverage, under_provisioned_fraction, ...}}}`) and DIR/forecasts.png; prints
a table.
Definitions: autoscaler/backtest/metrics.py. The source options are shared with `tune`.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from autoscaler.backtest.prometheus import DEFAULT_LOOKBACK_S
from autoscaler.backtest.series import DemandSeries
from prewarm_cli.options import FromOption, LengthScaleOption, RateScaleOption, UntilOption
from simulations.backtest.loaders import QUANTITIES
from simulations.backtest.sources import SourceSpec
from simulations.traces.formats import FORMAT_HELP
from simulations.traces.scale import TraceScale
from simulations.traces.window import TraceWindow

SeriesOption = Annotated[
    Path | None, typer.Option("--series", help="CSV `t_s,value`: demand in tokens/s per row")
]
TraceOption = Annotated[
    Path | None, typer.Option("--trace", help="request trace or rate CSV (with --format)")
]
FormatOption = Annotated[str | None, typer.Option("--format", help=FORMAT_HELP)]
PrometheusOption = Annotated[
    str | None, typer.Option("--prometheus", help="Prometheus URL to read the model's history")
]
ModelOption = Annotated[str | None, typer.Option(help="vLLM model_name label (--prometheus)")]
NamespaceOption = Annotated[str | None, typer.Option(help="only this namespace (--prometheus)")]
LookbackOption = Annotated[float, typer.Option(min=1, help="seconds of Prometheus history to read")]
EndOption = Annotated[
    float | None, typer.Option(help="end of the Prometheus range, epoch s (default: now)")
]
QuantityOption = Annotated[
    str, typer.Option(help="tokens (prompt + generation, what the planner plans on) | requests")
]
BucketOption = Annotated[
    float | None,
    typer.Option(help="bucket width, s (default: the series' spacing; 60 for traces/Prometheus)"),
]
HorizonOption = Annotated[
    float, typer.Option(help="how far ahead forecasts are scored, s (cold start + interval)")
]
StrideOption = Annotated[
    float | None,
    typer.Option(
        help="forecast only every N s (default: every bucket); faster for slow kinds, but the "
        "upper quantile then cannot calibrate on horizons over one bucket"
    ),
]
WarmupOption = Annotated[
    float | None,
    typer.Option(help="fed but not scored, s (default: one day, at most a quarter of the series)"),
]


KINDS_HELP = (
    "comma-separated kinds (default: every registered kind except arima-per-interval, which "
    "refits at every origin: name it, ideally with --stride-s)"
)


def source_spec(
    series: Path | None,
    trace: Path | None,
    fmt: str | None,
    prometheus: str | None,
    model: str | None,
    namespace: str | None,
    lookback_s: float,
    end_s: float | None,
    quantity: str,
    bucket_s: float | None,
    rate_scale: float = 1.0,
    length_scale: float = 1.0,
    from_s: float | None = None,
    until_s: float | None = None,
) -> SourceSpec:
    """The options as one SourceSpec; only here does "now" come from the wall clock."""
    if prometheus is not None and end_s is None:
        end_s = time.time()
    return SourceSpec(
        series, trace, fmt, prometheus, model, namespace, lookback_s, end_s, quantity, bucket_s,
        TraceScale(rate_scale, length_scale), TraceWindow(from_s, until_s),
    )  # fmt: skip


def fail(console: Console, message: str) -> NoReturn:
    # Escaped: a message quoting `http(s)://host[:port][/path]` is text, not rich markup
    # (as markup, "[/path]" raised MarkupError and the user saw a traceback).
    console.print(f"[red]error:[/red] {escape(message)}", markup=True, highlight=False)
    raise typer.Exit(2)


@contextmanager
def input_errors(console: Console) -> Iterator[None]:
    """Bad files, options and sources end the command with exit code 2 and the reason."""
    from autoscaler.metrics.source import MetricSourceError

    try:
        yield
    except (ValueError, FileNotFoundError, MetricSourceError) as exc:
        fail(console, str(exc))
    except OSError as exc:  # a directory given as a file, a file as --out, no permission
        fail(console, f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc))


def check_warmup(warmup_s: float) -> float:
    """`--warmup-s` as given: a finite duration, 0 or more."""
    if not (math.isfinite(warmup_s) and warmup_s >= 0):
        raise ValueError(f"--warmup-s must be a finite number of seconds >= 0, got {warmup_s:g}")
    return warmup_s


def make_out_dir(out: Path) -> None:
    """Creates `--out` before the long work, so a bad path fails in a second, not after it."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)


def parse_kinds(text: str | None) -> list[str]:
    """`a,b` -> ["a", "b"]; None -> every registered kind but the slow ones (SLOW_KINDS).
    Unknown kinds raise ValueError naming the known ones."""
    from autoscaler.backtest.rolling import default_kinds
    from autoscaler.forecast.registry import FORECASTERS

    if text is None:
        return default_kinds()
    kinds = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [kind for kind in kinds if kind not in FORECASTERS]
    if unknown or not kinds:
        raise ValueError(
            f"unknown forecaster kind(s) {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(FORECASTERS)}"
        )
    return list(dict.fromkeys(kinds))


def stride_buckets(stride_s: float | None, bucket_s: float) -> int:
    """`--stride-s` in whole buckets (rounded); at least one bucket."""
    if stride_s is None:
        return 1
    if not math.isfinite(stride_s):
        raise ValueError(f"--stride-s must be a finite number of seconds, got {stride_s:g}")
    if stride_s < bucket_s * (1 - 1e-9):
        raise ValueError(f"--stride-s {stride_s:g} is shorter than a bucket ({bucket_s:g} s)")
    return max(1, round(stride_s / bucket_s))


def describe(series: DemandSeries) -> str:
    days = series.span_s / 86400
    text = (
        f"[bold]{series.name}[/bold]: {series.n_buckets:,} buckets of {series.bucket_s:g} s "
        f"({days:.1f} days) in {series.unit}"
    )
    if series.gap_fraction:
        text += f", {series.gap_fraction:.1%} gaps"
    return text + (f" ({series.note})" if series.note else "")


def progress(console: Console, unit: str = "origins") -> Progress:
    return Progress(
        TextColumn("{task.description:>22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        console=console,
    )


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None or value != value else format(value, fmt)


def score_table(doc: dict[str, Any]) -> Table:
    """One row per forecaster; `cov.` (per step, the bucket at the horizon) and `peak cov.`
    (the plan's peak over the horizon) are both read against the nominal quantile in the
    title."""
    quantiles = sorted({s["quantile"] for s in doc["forecasters"].values()})
    nominal = ", ".join(f"{q:.0%}" for q in quantiles)
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"horizon {doc['horizon_s']:g} s, quantile {nominal} (cov. and peak cov. read vs it)",
        title_justify="left",
    )
    table.add_column("forecaster", no_wrap=True)
    for name in ("WAPE", "MASE", "pinball", "cov.", "peak cov.", "calib.", "s"):
        table.add_column(name, justify="right", no_wrap=True)
    for kind, s in doc["forecasters"].items():
        table.add_row(
            kind,
            _num(s["wape"], ".3f"),
            _num(s["mase"], ".2f"),
            _num(s["pinball"], ".4g"),
            _num(s["coverage"], ".1%"),
            _num(s["peak_coverage"], ".1%"),
            _num(s["calibrated_fraction"], ".0%"),
            _num(s["seconds"], ".1f"),
        )
    return table


def backtest_command(
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
    horizon_s: HorizonOption = 300.0,
    forecasters: Annotated[str | None, typer.Option(help=KINDS_HELP)] = None,
    quantile: Annotated[
        float, typer.Option(help="upper quantile scored (coverage, pinball)")
    ] = 0.95,
    stride_s: StrideOption = None,
    warmup_s: WarmupOption = None,
    out: Annotated[Path, typer.Option(help="directory for backtest.json and forecasts.png")] = Path(
        "out/backtest"
    ),
    plots: Annotated[bool, typer.Option(help="write forecasts.png")] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="print backtest.json to stdout instead of a table")
    ] = False,
) -> None:
    """Replay a model's history through forecasters from every origin; score them."""
    from autoscaler.backtest.evaluate import check_scorable, default_warmup_s
    from autoscaler.backtest.rolling import horizon_steps
    from autoscaler.backtest.run import backtest_document, kind_settings

    console = Console(stderr=json_out)
    spec = source_spec(
        series, trace, fmt, prometheus, model, namespace, lookback_s, end_s, quantity, bucket_s,
        rate_scale, length_scale, from_s, until_s,
    )  # fmt: skip
    with input_errors(console):
        kinds = parse_kinds(forecasters)
        if not 0.5 < quantile < 1:
            raise ValueError(f"--quantile must be in (0.5, 1), got {quantile:g}")
        demand = spec.load()
        steps = horizon_steps(horizon_s, demand.bucket_s)
        stride = stride_buckets(stride_s, demand.bucket_s)
        warmup = default_warmup_s(demand) if warmup_s is None else check_warmup(warmup_s)
        settings, skipped = kind_settings(kinds, demand.bucket_s, quantile)
        check_scorable(demand, steps, stride, warmup)
        make_out_dir(out)
    console.print(describe(demand), highlight=False)
    console.print(
        f"Horizon {horizon_s:g} s = {steps} bucket(s) ahead (the plan's peak spans "
        f"{steps + 1}, as the engine forecasts); forecasting every {stride} bucket(s); first "
        f"{warmup / 3600:.1f} h fed but not scored",
        highlight=False,
    )
    for kind, reason in skipped.items():
        console.print(f"[yellow]skipped {kind}:[/yellow] {reason}", highlight=False)
    if stride > 1:
        console.print(
            "[yellow]note:[/yellow] with --stride-s over one bucket the upper quantile and the "
            "plan's peak cannot calibrate on their own errors; both coverages reflect the "
            "fallback spread"
        )
    with progress(console) as bar, input_errors(console):

        def progress_for(kind: str) -> Callable[[int, int], None]:
            task = bar.add_task(kind, total=None)
            return lambda done, total: bar.update(task, completed=done, total=total)

        doc, runs = backtest_document(
            demand,
            horizon_s,
            list(settings),
            quantile,
            warmup_s=warmup,
            stride=stride,
            progress_for=progress_for,
        )
    if skipped:  # kinds left out above: backtest_document only saw the runnable ones
        doc["skipped"] = skipped
    (out / "backtest.json").write_text(json.dumps(doc, indent=2) + "\n")
    if plots:
        from simulations.backtest.plots import plot_forecasts

        plot_forecasts(demand, runs, horizon_s, out / "forecasts.png")
    if json_out:
        json.dump(doc, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    console.print(score_table(doc))
    console.print(
        "WAPE, MASE, pinball, cov. (coverage of the upper) score the bucket at the horizon; "
        "peak cov. = share of origins whose actual peak over the horizon was at or below the "
        "plan's peak (what it provisions for); read both against the quantile. "
        "under_provisioned_fraction in backtest.json = 1 - peak cov.; calib. = upper from real "
        "errors",
        style="dim",
    )
    console.print(
        f"Results: [bold]{out / 'backtest.json'}[/bold]"
        + (f"  Plot: {out / 'forecasts.png'}" if plots else "")
    )
