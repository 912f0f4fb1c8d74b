"""`--from-s` and `--until-s`: a time window of a trace, cut as it is loaded.

Replaces `head -n 1009 aggregate_m-small.csv > m-small-7d.csv` (ServeGen m-small's first 7
days) and the like: no hand-made file, and sweeps and tunes key their caches on the window.

- Seconds count from the trace's start as loaded: t=0 is its first row (rate series: rate,
  servegen and azure2024 rows are shifted so; ServeGen demand keeps the file's t_s, measured
  here from its first row too) or its first request (azure, mooncake and burstgpt arrivals,
  whatever their clock: dates, milliseconds).
- A request is kept when from_s <= t < until_s. A rate series' row is kept whole when its
  start is in [from_s, until_s): no row is clipped, so the kept part may end up to one row's
  step after until_s (one row, 10 minutes in ServeGen, 7.2 in Azure 2024), and a row that
  starts before from_s is left out though it runs past it. This is what cutting the file's
  lines would give, so `--until-s 604800` on ServeGen m-small is its `head -n 1009` file.
- The kept part is shifted to start at 0, as a whole trace does (its first kept row or
  request at 0; demand at the file's own first t_s). A replay's warm-up (by default a day)
  is then the window's first day, not the trace's.
- Cut before idle gaps are shortened (`span.trim_idle_gaps`), so a gap is measured inside
  the window, but after a rate file is read whole: ServeGen's collection gaps are bridged
  from the rows around them (at the window's edge, from the row past it, where a file cut
  with `head` holds the last value) and its rows without covered clients take the whole
  file's mean lengths. Gaps are counted in the window (`collection_gaps_bridged`).
- The window and the scales (`scale.py`) commute: one cuts time, the others multiply rates
  and lengths.

Worked number: rows at 0, 600, 1,200 and 1,800 s with --from-s 500 --until-s 1800 keep the
rows at 600 and 1,200 s, which become rows at 0 and 600 s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simulations.traces.rate_demand import DemandRates
from simulations.traces.rate_series import RateSeries
from simulations.traces.request_trace import RequestTrace


@dataclass(frozen=True)
class TraceWindow:
    from_s: float | None = None  # None: from the trace's start
    until_s: float | None = None  # None: to its end

    @property
    def is_whole(self) -> bool:
        return self.from_s is None and self.until_s is None

    @property
    def options(self) -> str:
        """The options as a user would type them, for messages: `--from-s 0 --until-s ...`."""
        given = [
            f"{option} {_seconds(value)}"
            for option, value in (("--from-s", self.from_s), ("--until-s", self.until_s))
            if value is not None
        ]
        return " ".join(given)

    @property
    def lo_s(self) -> float:
        return 0.0 if self.from_s is None else self.from_s

    @property
    def hi_s(self) -> float:
        return math.inf if self.until_s is None else self.until_s


WHOLE = TraceWindow()


def check_window(window: TraceWindow, *, has_trace: bool = True) -> None:
    """ValueError naming the option: a bound that is not a finite number >= 0, an until
    at or before the from, or a window without a trace file. (A window that keeps nothing
    is only known once the file is read: `window_rows` says so.)"""
    for option, value in (("--from-s", window.from_s), ("--until-s", window.until_s)):
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(
                f"{option} must be a finite number of seconds >= 0, got {_seconds(value)}"
            )
    if window.is_whole:
        return
    lo, hi = window.from_s, window.until_s
    if lo is not None and hi is not None and hi <= lo:
        raise ValueError(f"--until-s {_seconds(hi)} must be after --from-s {_seconds(lo)}")
    if not has_trace:
        raise ValueError(f"{window.options}: a window applies to a --trace file")


def window_rows(t_s: np.ndarray, window: TraceWindow, what: str, source: str) -> slice:
    """The rows (or requests) of ascending times `t_s`, measured from t_s[0], that the
    window keeps; ValueError naming the options and the trace's span when it keeps none."""
    t0 = float(t_s[0]) if t_s.size else 0.0
    lo = int(np.searchsorted(t_s, t0 + window.lo_s, side="left"))
    hi = int(np.searchsorted(t_s, t0 + window.hi_s, side="left"))
    if hi <= lo:
        span = f"0-{float(t_s[-1]) - t0:,.0f} s" if t_s.size else "nothing"
        raise ValueError(f"{window.options} keeps no {what} of {source} (it spans {span})")
    return slice(lo, hi)


def windowed_series(series: RateSeries, window: TraceWindow) -> RateSeries:
    """The rows whose start lies in the window, shifted so the first is at 0. The last
    kept row lasts the kept rows' median step (as the last row of any series)."""
    if window.is_whole:
        return series
    rows = window_rows(series.t_s, window, "row", series.source)

    def cut(values: np.ndarray | None) -> np.ndarray | None:
        return None if values is None else values[rows]

    t_s = series.t_s[rows]
    meta = {**series.meta, **_meta(window)}
    gap = None if series.gap is None else series.gap[rows]
    meta.pop("collection_gaps_bridged", None)  # the whole file's count: recounted in the window
    if gap is not None and gap.any():
        meta["collection_gaps_bridged"] = int(np.count_nonzero(gap))
    return replace(
        series,
        t_s=t_s - t_s[0],
        rate_rps=series.rate_rps[rows],
        input_tokens_per_s=cut(series.input_tokens_per_s),
        output_tokens_per_s=cut(series.output_tokens_per_s),
        meta=meta,
        gap=gap,
    )


def windowed_requests(trace: RequestTrace, window: TraceWindow) -> RequestTrace:
    """The requests arriving in the window, shifted so the first arrives at 0."""
    if window.is_whole:
        return trace
    kept = window_rows(trace.arrival_s, window, "request", trace.source)
    arrival = trace.arrival_s[kept]
    return RequestTrace(
        trace.name,
        arrival - arrival[0],
        trace.prompt_tokens[kept],
        trace.output_tokens[kept],
        trace.source,
        {**trace.meta, **_meta(window)},
    )


def windowed_demand(rates: DemandRates, window: TraceWindow, source: str) -> DemandRates:
    """Demand read as rates, cut as `windowed_series` cuts rows; it starts where the whole
    file's does (its first t_s: 0 but for a ServeGen file whose t_s does not)."""
    if window.is_whole:
        return rates
    rows = window_rows(rates.t_s, window, "row", source)
    t_s = rates.t_s[rows]
    note = window_note(window, "rows")
    return replace(
        rates,
        t_s=t_s - t_s[0] + rates.t_s[0],
        values=rates.values[rows],
        note=f"{rates.note}; {note}" if rates.note else note,
    )


def window_note(window: TraceWindow, what: str) -> str:
    """What a demand series' line says was kept: `rows --until-s 604800`; "" for none."""
    return "" if window.is_whole else f"{what} {window.options}"


def _seconds(value: float) -> str:
    """A bound as typed: 1209600, not :g's 1.2096e+06 (a week or more is 7 digits)."""
    return f"{value:.15g}"


def _meta(window: TraceWindow) -> dict[str, float]:
    """What summary.json's trace section says about the window (the bounds given)."""
    return {
        name: value
        for name, value in (("from_s", window.from_s), ("until_s", window.until_s))
        if value is not None
    }
