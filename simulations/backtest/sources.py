"""Which history a backtest or tune runs on: exactly one of a CSV, a trace file, Prometheus."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from autoscaler.backtest.prometheus import DEFAULT_LOOKBACK_S, load_prometheus
from autoscaler.backtest.series import MAX_SERIES_BUCKETS, DemandSeries
from simulations.backtest.loaders import FORMAT_NAMES, QUANTITIES, load_file, load_value_csv
from simulations.traces.scale import UNSCALED, TraceScale, check_scale
from simulations.traces.window import WHOLE, TraceWindow, check_window


class SourceError(ValueError):
    """The source options do not name one usable history; the message says how to fix it."""


@dataclass(frozen=True)
class SourceSpec:
    series: Path | None = None  # CSV t_s,value
    trace: Path | None = None  # with fmt
    fmt: str | None = None
    prometheus: str | None = None  # URL, with model
    model: str | None = None
    namespace: str | None = None
    lookback_s: float = DEFAULT_LOOKBACK_S
    end_s: float | None = None  # Prometheus range end (epoch s); the CLI passes "now"
    quantity: str = "tokens"
    bucket_s: float | None = None  # None: the series' own spacing, 60 s for traces/Prometheus
    scale: TraceScale = UNSCALED  # --rate-scale/--length-scale, of a --trace only
    window: TraceWindow = WHOLE  # --from-s/--until-s, of a --trace only

    def check(self) -> None:
        """Raises SourceError naming the problem (all option problems before any I/O)."""
        chosen = [
            name
            for name, value in (
                ("--series", self.series),
                ("--trace", self.trace),
                ("--prometheus", self.prometheus),
            )
            if value is not None
        ]
        if len(chosen) != 1:
            got = f"got {' and '.join(chosen)}" if chosen else "got none"
            raise SourceError(f"give exactly one of --series, --trace, --prometheus ({got})")
        if self.quantity not in QUANTITIES:
            raise SourceError(
                f"unknown --quantity {self.quantity!r}; choose from {', '.join(QUANTITIES)}"
            )
        if self.bucket_s is not None and not 0 < self.bucket_s <= 3600:
            raise SourceError(f"--bucket-s must be in (0, 3600], got {self.bucket_s:g}")
        if self.trace is not None and self.fmt not in FORMAT_NAMES:
            what = f"unknown --format {self.fmt!r}" if self.fmt else "--trace needs --format"
            raise SourceError(f"{what}; choose from {', '.join(FORMAT_NAMES)}")
        try:  # a --series or Prometheus history is demand, with no requests to scale
            check_scale(self.scale, self.fmt or "", has_trace=self.trace is not None)
            check_window(self.window, has_trace=self.trace is not None)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
        if self.prometheus is not None:
            if not self.model:
                raise SourceError("--prometheus needs --model (vLLM's model_name label)")
            if self.end_s is None:
                raise SourceError("a Prometheus range needs an end time")
            if not math.isfinite(self.end_s):
                raise SourceError(f"--end-s must be a finite epoch time, got {self.end_s:g}")
            if not (math.isfinite(self.lookback_s) and self.lookback_s > 0):
                raise SourceError(
                    f"--lookback-s must be a finite number of seconds > 0, got {self.lookback_s:g}"
                )
            width_s = self.bucket_s or 60.0
            if self.lookback_s / width_s > MAX_SERIES_BUCKETS:  # before Prometheus is asked
                raise SourceError(
                    f"--lookback-s {self.lookback_s:g} is {self.lookback_s / width_s:,.0f} "
                    f"buckets of {width_s:g} s, over the limit of {MAX_SERIES_BUCKETS:,} "
                    "(MAX_SERIES_BUCKETS): a shorter --lookback-s or a longer --bucket-s"
                )

    def load(self) -> DemandSeries:
        """The bucketed series. Raises SourceError (options), FileNotFoundError,
        TraceFormatError (file:line), MetricSourceError (Prometheus) or ValueError."""
        self.check()
        if self.series is not None:
            series = load_value_csv(self.series, self.bucket_s)
            if self.quantity == "requests":
                series = DemandSeries(
                    series.start_s, series.bucket_s, series.values, "requests/s",
                    series.name, series.source, series.note,
                )  # fmt: skip
        elif self.trace is not None:
            assert self.fmt is not None  # check() made sure
            series = load_file(
                self.trace, self.fmt, self.quantity, self.bucket_s, self.scale, self.window
            )
        else:
            assert self.prometheus is not None and self.model and self.end_s is not None
            series = load_prometheus(
                self.prometheus,
                self.model,
                end_s=self.end_s,
                lookback_s=self.lookback_s,
                bucket_s=self.bucket_s or 60.0,
                namespace=self.namespace,
                quantity=self.quantity,
            )
        if series.n_buckets == 0:
            raise SourceError(f"{series.source}: no data to backtest on")
        return series
