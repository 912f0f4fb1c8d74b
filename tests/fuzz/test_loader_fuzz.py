"""Hostile files through every file loader of the project: every trace format, profiles,
and the placement demand and inventory.

Each file either loads or is refused with the project's own error naming the file
(TraceFormatError, ProfileError, PlacementInputError): never an exception of another type,
never a large allocation (tracemalloc's peak is checked). Files are built from what broke
the loaders before: binary bytes, UTF-16, nesting past the parsers' recursion, numbers of
thousands of digits, NaN and infinities, keys given twice, spans of years. Then the CLI, end
to end, on a few of those reproductions: exit 2 with the file named, no traceback.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from autoscaler.engine import ModelEngine
from autoscaler.forecast.registry import FORECASTERS
from autoscaler.observation import Observation
from autoscaler.profile import ModelProfile, ProfileError, load_profile
from scheduler.demand import load_demand
from scheduler.input_errors import PlacementInputError
from scheduler.inventory import load_inventory
from simulations.traces.formats import FORMAT_NAMES, RATE_FORMATS
from simulations.traces.loader import load_trace
from simulations.traces.request_trace import RequestTrace, TraceFormatError
from simulations.traces.span import check_replay_span
from tests.fakes import profile_data

T = TypeVar("T")
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
PEAK_BYTES = 256 * 2**20  # what one load may allocate at its peak
PREWARM = Path(sys.executable).parent / "prewarm"


def within_memory(load: Callable[[], T]) -> T:
    """`load()`, failing the test if its allocations peaked past PEAK_BYTES."""
    tracemalloc.start()
    try:
        return load()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < PEAK_BYTES, f"peak allocation {peak / 2**20:.0f} MiB"


def written(content: bytes, name: str) -> Path:
    """`content` in a fresh file (a fixture's tmp_path would be shared by the examples)."""
    path = Path(tempfile.mkdtemp(prefix="fuzz-")) / name
    path.write_bytes(content)
    return path


# --- what a cell, a value, a file can be ------------------------------------------------

HOSTILE_NUMBERS = ["1e300", "-1e300", "nan", "inf", "-inf", "1e11", "1e12", "9" * 5000, "-0"]
cells = st.one_of(
    st.integers(-10, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from([*HOSTILE_NUMBERS, "", "x", "1_000", "١٢", '"', "a,b"]),
    st.text(max_size=12),
)
values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**30), 10**30)
    | st.sampled_from([10**400, -(10**400)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def deep(n: int) -> bytes:
    return b"[" * n + b"]" * n


@st.composite
def hostile(draw: st.DrawFn, text: str) -> bytes:
    """`text` as UTF-8, or spoiled the ways real files are: UTF-16, binary, truncated, a NUL,
    nesting past the parsers, a BOM."""
    raw = text.encode("utf-8", "surrogatepass")
    spoiled = ["utf-16", "binary", "cut", "nul", "deep", "bom"]
    how = draw(st.sampled_from(["utf-8"] * 12 + spoiled))
    if how == "utf-16":
        return text.encode("utf-16", "surrogatepass")
    if how == "binary":
        return draw(st.binary(max_size=2000))
    if how == "cut":
        return raw[: draw(st.integers(0, len(raw)))]
    if how == "nul":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + b"\x00" + raw[at:]
    if how == "deep":
        return raw + b"\n" + deep(draw(st.integers(100, 20_000))) + b"\n"
    return b"\xef\xbb\xbf" + raw if how == "bom" else raw


def csv_text(header: str, rows: list[list[str]]) -> str:
    return header + "\n" + "".join(",".join(row) + "\n" for row in rows)


# --- traces -----------------------------------------------------------------------------

# Gaps between rows: dense, idle for days or years (gaps to shorten), or past every limit.
gaps_s = st.integers(0, 9).flatmap(
    lambda kind: (
        st.floats(0, 600)
        if kind < 6
        else st.sampled_from([6.5 * 86400.0, 8 * 86400.0, 400 * 86400.0, 3e9])
        if kind < 9
        else st.sampled_from([1e11, 1e12, 1e300])
    )
)


@st.composite
def times_s(draw: st.DrawFn) -> list[float]:
    """1-20 increasing times from 0 (a trace's own order is checked elsewhere)."""
    out = [0.0]
    for gap in draw(st.lists(gaps_s, max_size=19)):
        out.append(out[-1] + gap)
    return out


@st.composite
def cell(draw: st.DrawFn, valid: str, dirty: bool) -> str:
    """`valid`, or in a dirty file now and then anything a cell can hold."""
    return draw(cells) if dirty and draw(st.integers(0, 3)) == 0 else valid


def _stamp(t: float) -> str:
    """An Azure-style date-time `t` seconds after 2023-11-16, or the number when it is none."""
    from datetime import UTC, datetime, timedelta

    try:
        moment = datetime(2023, 11, 16, tzinfo=UTC) + timedelta(seconds=t)
    except OverflowError:
        return f"{t!r}"
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f") + "7"


tokens = st.integers(0, 20_000).map(str)


@st.composite
def azure_rows(draw: st.DrawFn) -> str:
    dirty = draw(st.booleans())
    rows = [
        [draw(cell(_stamp(t), dirty)), draw(cell(draw(tokens), dirty)), draw(tokens)]
        for t in draw(times_s())
    ]
    return csv_text("TIMESTAMP,ContextTokens,GeneratedTokens", rows)


@st.composite
def burstgpt_rows(draw: st.DrawFn) -> str:
    dirty = draw(st.booleans())
    rows = [
        [draw(cell(repr(t), dirty)), "ChatGPT", draw(cell(draw(tokens), dirty)), "1", "2", "x"]
        for t in draw(times_s())
    ]
    return csv_text("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type", rows)


@st.composite
def mooncake_lines(draw: st.DrawFn) -> str:
    dirty = draw(st.booleans())
    lines = []
    for t in draw(times_s()):
        record: dict[str, Any] = {
            "timestamp": int(t * 1000) if t < 1e200 else t,
            "input_length": draw(st.integers(0, 20_000)),
            "output_length": draw(st.integers(0, 2_000)),
            "hash_ids": draw(st.lists(st.integers(0, 100), max_size=5)),
        }
        if dirty and draw(st.integers(0, 3)) == 0:
            record[draw(st.sampled_from([*record, "x"]))] = draw(values)
        line = json.dumps(record)
        lines.append(draw(st.text(max_size=30)) if dirty and draw(st.integers(0, 9)) == 0 else line)
    return "\n".join(lines) + "\n"


@st.composite
def rate_rows(draw: st.DrawFn) -> str:
    dirty = draw(st.booleans())
    rows = [
        [draw(cell(repr(t), dirty)), draw(cell(repr(draw(st.floats(0, 5))), dirty))]
        for t in draw(times_s())
    ]
    return csv_text("t_s,rate_rps", rows)


@st.composite
def servegen_rows(draw: st.DrawFn) -> str:
    dirty = draw(st.booleans())
    rows = [
        [
            draw(cell(repr(t), dirty)),
            draw(cell(repr(draw(st.floats(0, 5))), dirty)),
            draw(cell(str(draw(st.integers(0, 3))), dirty)),
            *(draw(cell(repr(draw(st.floats(0, 5e4))), dirty)) for _ in range(3)),
        ]
        for t in draw(times_s())
    ]
    header = (
        "t_s,rate_rps,active_clients,covered_rate_rps,est_input_tok_per_s_covered,"
        "est_output_tok_per_s_covered"
    )
    return csv_text(header, rows)


@st.composite
def azure2024_rows(draw: st.DrawFn) -> str:
    dirty = draw(st.booleans())
    # Rows ~7 minutes apart in the digitised file; the gaps strategy adds days and years.
    times = [t + 420.0 * i for i, t in enumerate(draw(times_s()))]
    rows = [
        [draw(cell(_stamp(t), dirty)), "1", "2", draw(cell(repr(draw(st.floats(0, 600))), dirty))]
        for t in [*times, times[-1] + 420.0]
    ]
    return csv_text("t,env_low,env_high,mid", rows)


FORMATS = {
    "azure": azure_rows(),
    "burstgpt": burstgpt_rows(),
    "mooncake": mooncake_lines(),
    "rate": rate_rows(),
    "servegen": servegen_rows(),
    "azure2024": azure2024_rows(),
}
assert set(FORMATS) == set(FORMAT_NAMES), "a new trace format needs a strategy here"


def _check_trace_file(path: Path, fmt: str) -> None:
    try:
        # --max-requests as the CLI takes it: a rate series is synthesised, not read, and
        # its size is the rate's (bounded by its own limit), not the file's.
        trace = within_memory(lambda: load_trace(path, fmt, max_requests=50_000))
    except (TraceFormatError, FileNotFoundError, ValueError) as exc:
        # ValueError: a rate series over SAFETY_LIMIT requests names its file too.
        assert str(path) in str(exc), f"{type(exc).__name__}: {exc}"
        event(f"refused: {type(exc).__name__}")
        return
    event("loaded")
    assert isinstance(trace, RequestTrace)
    assert trace.n_requests >= 1 or fmt in RATE_FORMATS
    try:
        check_replay_span(trace)
    except TraceFormatError as exc:
        assert str(exc).startswith(f"{path}: ") and "MAX_REPLAY_SPAN_S" in str(exc)
        event("span refused")
    if "idle_gaps_shortened" in trace.meta:
        event("idle gaps shortened")


@pytest.mark.parametrize("fmt", list(FORMATS))
@FUZZ
@given(data=st.data())
def test_every_trace_loader_loads_or_names_the_file(fmt: str, data: st.DataObject) -> None:
    content = data.draw(FORMATS[fmt].flatmap(hostile), label="content")
    _check_trace_file(written(content, f"trace.{fmt}"), fmt)


# --- profiles ---------------------------------------------------------------------------


def log_uniform(low: float, high: float) -> st.SearchStrategy[float]:
    """Seconds spread over orders of magnitude: from a typo's 1e13 to a usual day."""
    return st.floats(low, high).map(lambda e: float(10**e))


@st.composite
def profiles(draw: st.DrawFn) -> str:
    interval = draw(st.sampled_from([1.0, 15.0, 60.0]))
    forecast: dict[str, Any] = {
        "kind": draw(st.sampled_from(["last-value", "seasonal-naive", "holt-winters", "ensemble"])),
        "bucket_s": draw(st.sampled_from([interval, 60.0, 300.0]) | st.floats(interval, 3600)),
        "history_s": draw(st.just(3 * 86400.0) | log_uniform(5.3, 14)),
        "error_window_s": draw(st.just(86400.0) | log_uniform(2, 14)),
    }
    data = profile_data(
        cold_start_s=draw(st.floats(0, 7200)), decision_interval_s=interval, forecast=forecast
    )
    if draw(st.integers(0, 3)) == 0:  # one field anything at all
        section = draw(st.sampled_from([data, data["capacity"], data["forecast"]]))
        section[draw(st.sampled_from([*section, "extra"]))] = draw(values)
    text = yaml.safe_dump(data, sort_keys=False)
    if draw(st.integers(0, 3)) == 0:  # a key given twice, as an edit further down does
        text += f"{draw(st.sampled_from(list(data)))}: 1\n"
    return text


@FUZZ
@given(content=profiles().flatmap(hostile))
def test_the_profile_loader_loads_or_names_the_file_and_bounds_memory(content: bytes) -> None:
    path = written(content, "profile.yaml")
    try:
        profile = load_profile(path)
    except ProfileError as exc:
        assert str(exc).startswith(f"{path}: "), str(exc)
        event("memory limit" if "(MAX_" in str(exc) else "refused")
        return
    event("loaded")
    assert isinstance(profile, ModelProfile) and profile.forecast.kind in FORECASTERS

    def first_forecasts() -> None:  # the error ring and the history are allocated here
        engine = ModelEngine(profile, initial_replicas=1)
        engine.observe(Observation(0.0, 100.0, 50.0, 0, 0, 0, 1))
        engine.decide(3 * profile.forecast.bucket_s)

    within_memory(first_forecasts)


# --- placement inputs -------------------------------------------------------------------

counts = st.integers(0, 70) | st.sampled_from([10**6, 10**12, -1])


@st.composite
def demands(draw: st.DrawFn) -> str:
    model = st.fixed_dictionaries(
        {"name": st.text("ab", min_size=1, max_size=3), "replicas": counts},
        optional={
            "memory_gib": st.floats(allow_nan=True, allow_infinity=True) | values,
            "mig_profile": st.sampled_from(["1g.10gb", "3g.40gb", "9g.1tb"]),
            "gpus_per_replica": counts,
            "nodes_per_replica": counts,
            "gpu_models": st.lists(st.sampled_from(["H100-80GB", "A100-80GB", "X"])),
        },
    )
    data: dict[str, Any] = {"models": draw(st.lists(model, max_size=3) | values)}
    return yaml.safe_dump(data) + draw(st.sampled_from(["", "models: []\n"]))  # twice?


@st.composite
def inventories(draw: st.DrawFn) -> str:
    mig = st.fixed_dictionaries(
        {"profile": st.sampled_from(["1g.10gb", "3g.40gb", "x"]), "start": st.integers(-1, 8)}
    )
    nodes = []
    for k in range(draw(st.integers(0, 3))):
        n_gpus = draw(st.integers(0, 8) | st.sampled_from([64, 65, 300]))
        migs = draw(st.lists(mig, max_size=9))
        gpus = [{"uuid": f"g{k}-{i}", "model": "H100-80GB", "mig": migs} for i in range(n_gpus)]
        nodes.append({"name": f"n{k}", "zone": "z", "instance_type": "p5", "gpus": gpus})
    instance_type = {
        "name": "p5",
        "zone": "z",
        "gpu_model": "H100-80GB",
        "gpus": draw(counts),
        "price_per_hour": draw(st.floats(allow_nan=True, allow_infinity=True)),
        "available": draw(counts),
    }
    text = yaml.safe_dump({"nodes": nodes, "instance_types": [instance_type]})
    return text + draw(st.sampled_from(["", "nodes: []\n"]))  # a key given twice, or not


@pytest.mark.parametrize(
    ("strategy", "load"),
    [(demands(), load_demand), (inventories(), load_inventory)],
    ids=["demand", "inventory"],
)
@FUZZ
@given(data=st.data())
def test_the_placement_loaders_load_or_name_the_file(
    strategy: st.SearchStrategy[str], load: Callable[[Path], object], data: st.DataObject
) -> None:
    path = written(data.draw(strategy.flatmap(hostile), label="content"), "placement.yaml")
    try:
        within_memory(lambda: load(path))
    except PlacementInputError as exc:
        assert exc.source == str(path) and str(exc).startswith(f"{path}: "), str(exc)
        event("limit" if "limit" in str(exc) or "than or equal" in str(exc) else "refused")
        return
    event("loaded")


# --- the CLI, end to end ----------------------------------------------------------------


def _limit_memory() -> None:  # a regression here must fail the test, not take the machine
    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))


def prewarm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PREWARM), *args],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
    )


PROFILE_2_5_GB = "\n".join(
    [
        "model: m",
        "capacity: {prompt_tokens_per_s: 8000, generation_tokens_per_s: 2500,"
        " kv_cache_tokens: 400000}",
        "cold_start_s: 7200",
        "decision_interval_s: 1",
        "forecast: {kind: holt-winters, bucket_s: 1}",
    ]
)


@pytest.mark.parametrize(
    ("name", "content", "args", "words"),
    [
        (
            "far.csv",
            b"Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
            b"0,m,1,1,2,x\n1e300,m,1,1,2,x\n",
            ["simulate", "--format", "burstgpt", "--trace"],
            ["far.csv:3", "Timestamp must be <= 1e+11"],
        ),
        (
            "digits.jsonl",
            b'{"timestamp": 1' + b"0" * 5000 + b', "input_length": 1, "output_length": 1}\n',
            ["simulate", "--format", "mooncake", "--trace"],
            ["digits.jsonl:1", "4,300 digits"],
        ),
        (
            "utf16.jsonl",
            '{"timestamp": 0, "input_length": 1, "output_length": 1}\n'.encode("utf-16"),
            ["simulate", "--format", "mooncake", "--trace"],
            ["utf16.jsonl:1", "not UTF-8"],
        ),
        (
            "profile.yaml",
            PROFILE_2_5_GB.encode(),
            ["simulate", "--policies", "static", "--profile"],
            ["profile.yaml", "7,202 forecast steps", "MAX_HORIZON_STEPS"],
        ),
        (
            "twice.yaml",
            (PROFILE_2_5_GB.replace("7200", "300") + "\ncold_start_s: 30\n").encode(),
            ["simulate", "--policies", "static", "--profile"],
            ["twice.yaml", "duplicate key 'cold_start_s'"],
        ),
        (
            "gap.csv",
            b"t_s,value\n0,1\n60,1\n120,1\n10000000120,1\n",
            ["backtest", "--bucket-s", "0.001", "--series"],
            ["gap.csv", "MAX_SERIES_BUCKETS"],
        ),
        (
            "demand.yaml",
            b"models:\n  - {name: m, replicas: 1000000, mig_profile: 1g.10gb}\n",
            ["place", "--inventory", "{inventory}", "--demand"],
            ["demand.yaml", "models.0.replicas", "100000"],
        ),
        (
            "demand.yaml",
            b"models:\n  - {name: m, replicas: 1, memory_gib: .inf}\n",
            ["place", "--inventory", "{inventory}", "--demand"],
            ["demand.yaml", "memory_gib", "finite"],
        ),
        (
            "demand.yaml",
            b"models: " + deep(1000) + b"\n",
            ["place", "--inventory", "{inventory}", "--demand"],
            ["demand.yaml", "nested too deeply"],
        ),
        (
            "demand.yaml",
            "models: []\n".encode("utf-16"),
            ["place", "--inventory", "{inventory}", "--demand"],
            ["demand.yaml", "not UTF-8 text"],
        ),
    ],
    ids=[
        "burstgpt-1e300",
        "mooncake-5000-digits",
        "mooncake-utf16",
        "profile-2.5-gb",
        "profile-duplicate-key",
        "backtest-gap-millisecond-buckets",
        "place-million-replicas",
        "place-infinite-memory",
        "place-deep-yaml",
        "place-utf16",
    ],
)
def test_the_cli_exits_2_naming_the_file(
    tmp_path: Path, name: str, content: bytes, args: list[str], words: list[str]
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    inventory = Path(__file__).resolve().parents[2] / "deploy/examples/placement/inventory.yaml"
    argv = [a.format(inventory=inventory) for a in args]
    result = prewarm(*argv, str(path), "--out", str(tmp_path / "out"))
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 2, output
    assert "Traceback" not in output
    for word in words:
        assert word in output


def test_a_two_row_trace_ten_years_apart_simulates_a_day_and_says_so(tmp_path: Path) -> None:
    """Was 24 GB until killed."""
    path = tmp_path / "decade.csv"
    path.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2013-11-16 18:17:03.9799600,100,10\n2023-11-16 18:17:03.9799600,100,10\n"
    )
    result = prewarm(
        "simulate", "--trace", str(path), "--policies", "static", "--out", str(tmp_path / "out")
    )
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == 0, output
    assert "1 idle gap(s) of over 7 days shortened to 1-2 days" in output
