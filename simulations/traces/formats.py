"""Every trace format, once: what `--format` accepts in simulate, sweep, emulate, backtest and tune.

A format either lists its requests (azure, mooncake, burstgpt) or gives rates per window (rate,
servegen, azure2024). Replays read requests: a listed trace as it is, a rate series through
seeded synthetic arrivals (`rate_series.synthesise_arrivals`, which `--process`, `--cv` and
`--max-requests` shape). Backtests read demand: a listed trace bucketed into tokens/s, a rate
series as its rates (`rate_demand`, no arrival noise added).

Adding a format: write its reader(s) and add one entry to FORMATS; every command, its `--help`
and the error listing the choices follow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulations.traces.azure import load_azure
from simulations.traces.azure2024 import load_azure2024
from simulations.traces.burstgpt import load_burstgpt
from simulations.traces.mooncake import load_mooncake
from simulations.traces.rate_demand import (
    DemandRates,
    azure2024_demand,
    rate_demand,
    servegen_demand,
)
from simulations.traces.rate_series import RateSeries, load_rate_series
from simulations.traces.request_trace import RequestTrace
from simulations.traces.servegen import servegen_rate_series


@dataclass(frozen=True)
class TraceFormat:
    """One `--format`: exactly one of read_requests (a request list) or read_rates and
    read_demand (a rate series: to replay, and to forecast)."""

    name: str
    description: str  # what the file holds, for --help and docs
    read_requests: Callable[[str | Path], RequestTrace] | None = None
    read_rates: Callable[[str | Path], RateSeries] | None = None
    read_demand: Callable[[str | Path, str], DemandRates] | None = None

    def __post_init__(self) -> None:
        rates = (self.read_rates is not None, self.read_demand is not None)
        if (self.read_requests is not None) == any(rates) or any(rates) != all(rates):
            raise ValueError(f"format {self.name}: requests, or rates and demand")

    @property
    def is_rate_series(self) -> bool:
        """Arrivals are synthesised from rates (so --process, --cv, --max-requests apply)."""
        return self.read_rates is not None


FORMATS: dict[str, TraceFormat] = {
    f.name: f
    for f in (
        TraceFormat(
            "azure",
            "CSV TIMESTAMP,ContextTokens,GeneratedTokens (Azure LLM inference 2023)",
            read_requests=load_azure,
        ),
        TraceFormat(
            "mooncake",
            "JSONL timestamp (ms), input_length, output_length, hash_ids (Mooncake)",
            read_requests=load_mooncake,
        ),
        TraceFormat(
            "burstgpt",
            "CSV Timestamp,Model,Request tokens,Response tokens,... (BurstGPT)",
            read_requests=load_burstgpt,
        ),
        TraceFormat(
            "rate",
            "CSV t_s,rate_rps[,input_tokens_per_s,output_tokens_per_s]",
            read_rates=load_rate_series,
            read_demand=rate_demand,
        ),
        TraceFormat(
            "servegen",
            "ServeGen aggregate_*.csv: t_s, rate_rps, active_clients, covered_rate_rps, "
            "est_input/output_tok_per_s_covered",
            read_rates=servegen_rate_series,
            read_demand=servegen_demand,
        ),
        TraceFormat(
            "azure2024",
            "Azure 2024 digitised t,env_low,env_high,mid requests file (+ the input-token "
            "file beside it)",
            read_rates=load_azure2024,
            read_demand=azure2024_demand,
        ),
    )
}
FORMAT_NAMES = tuple(FORMATS)
RATE_FORMATS = tuple(name for name, f in FORMATS.items() if f.is_rate_series)
REQUEST_FORMATS = tuple(name for name, f in FORMATS.items() if not f.is_rate_series)
FORMAT_HELP = " | ".join(FORMAT_NAMES)  # the --format option's help in every command


def trace_format(name: str, what: str = "--format") -> TraceFormat:
    """The format called `name`, or ValueError `unknown --format 'x'; choose from ...`."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(
            f"unknown {what} {name!r}; choose from {', '.join(FORMAT_NAMES)}"
        ) from None
