"""`prewarm tune` by replay, end to end on a four-hour rate trace: the written profile loads
as a profile and replays to the numbers tune.json reports; no feasible candidate exits 1
with the closest labelled; the sweep's cache is reused; bad input exits 2 naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from autoscaler.profile import load_profile
from simulations.sweep.cache import code_fingerprint
from simulations.sweep.plan import load_traces
from simulations.sweep.replay import run_task
from simulations.sweep.tasks import TraceRef
from simulations.traces.formats import FORMAT_NAMES
from simulations.tune.replay_search import make_task
from tests.backtest.cli_helpers import daily_series, prewarm
from tests.simulations.format_samples import write_sample
from tests.simulations.sweep_helpers import write_rate_trace

SPACE = ["--space", "given", "--choices", "target_utilisation=0.6,0.8",
         "--choices", "forecast.quantile=0.9,0.95"]  # fmt: skip


def _tune(trace: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = prewarm(
        "tune", "--trace", str(trace), "--format", "rate", "--warmup-s", "3600",
        "--workers", "1", "--out", str(out), *extra,
    )  # fmt: skip
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("tune")
    trace = write_rate_trace(folder)
    out = folder / "out"
    code, output = _tune(trace, out, *SPACE, "--trials", "10")
    assert code == 0, output
    return trace, out, output


def test_replay_is_the_default_objective_and_every_trial_is_written(
    tuned: tuple[Path, Path, str],
) -> None:
    _, out, output = tuned
    doc = json.loads((out / "tune.json").read_text())
    assert doc["objective"] == "replay"
    assert doc["sampler"].startswith("brute force")  # 4 candidates <= 10 trials
    assert len(doc["trials"]) == 4
    assert doc["target"]["ttft_slo_attainment"] == 0.99
    assert "Frontier" in output and "Evidence" in output
    pick = doc["pick"]
    assert pick["meets_slo"] and pick["profile"] == str(out / "profile.yaml")
    feasible = [t for t in doc["trials"] if t["meets_slo"]]
    assert pick["gpu_hours"] == min(t["gpu_hours"] for t in feasible)


def test_written_profile_loads_and_replays_to_the_reported_numbers(
    tuned: tuple[Path, Path, str],
) -> None:
    trace_path, out, _ = tuned
    doc = json.loads((out / "tune.json").read_text())
    text = (out / "profile.yaml").read_text()
    assert text.startswith("# Tuned by replay (prewarm tune)")
    profile = load_profile(out / "profile.yaml")  # what `prewarm serve` loads
    for path, value in doc["pick"]["params"].items():
        node = yaml.safe_load(text)
        for part in path.split("."):
            node = node[part]
        assert node == value
    trace = load_traces([TraceRef(str(trace_path), "rate", 0)], warmup_s=3600.0)[0]
    result = run_task(make_task(trace, profile, 0, code_fingerprint()))
    assert result.metrics["gpu_hours"] == doc["pick"]["gpu_hours"]
    assert result.metrics["slo_attainment"] == doc["pick"]["slo_attainment"]
    assert result.metrics["slo_attainment"] >= profile.ttft_slo_attainment


def test_serve_accepts_the_written_profile(tuned: tuple[Path, Path, str], tmp_path: Path) -> None:
    _, out, _ = tuned
    config = tmp_path / "serve.yaml"
    config.write_text(yaml.safe_dump({"profiles": {"tuned": str(out / "profile.yaml")}}))
    result = prewarm("serve", "--config", str(config), "--check")
    assert result.exit_code == 0, result.output
    assert "tuned" in result.output


def test_a_second_run_reads_every_replay_from_the_cache(
    tuned: tuple[Path, Path, str], tmp_path: Path
) -> None:
    trace, out, _ = tuned
    code, output = _tune(trace, tmp_path, *SPACE, "--cache-dir", str(out / "cache"), "--json")
    assert code == 0, output
    doc = json.loads((tmp_path / "tune.json").read_text())
    assert doc["replays"]["replayed"] == 0 and doc["replays"]["cached"] == 4
    first = json.loads((out / "tune.json").read_text())
    assert doc["pick"] == first["pick"] | {"profile": str(tmp_path / "profile.yaml")}


def test_no_candidate_meeting_the_slo_exits_1_with_the_closest_labelled(
    tuned: tuple[Path, Path, str], tmp_path: Path
) -> None:
    trace, out, _ = tuned
    strict = tmp_path / "strict.yaml"
    data = yaml.safe_load(Path("autoscaler/profiles/default.yaml").read_text())
    strict.write_text(yaml.safe_dump({**data, "ttft_slo_s": 0.01, "ttft_slo_attainment": 0.999}))
    code, output = _tune(
        trace, tmp_path / "out", "--profile", str(strict), "--space", "given",
        "--choices", "target_utilisation=0.8,0.9",
    )  # fmt: skip
    assert code == 1, output
    assert "NO CANDIDATE MEETS THE SLO" in " ".join(output.split())
    written = tmp_path / "out"
    assert not (written / "profile.yaml").exists()
    closest = (written / "closest-profile.yaml").read_text()
    assert closest.startswith("# NOT MEETING THE SLO")
    doc = json.loads((written / "tune.json").read_text())
    assert doc["pick"]["meets_slo"] is False and len(doc["trials"]) == 2
    assert doc["pick"]["slo_attainment"] == max(t["slo_attainment"] for t in doc["trials"])


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_every_trace_format_can_be_tuned_by_replay(tmp_path: Path, fmt: str) -> None:
    trace = write_sample(tmp_path, fmt)
    result = prewarm(
        "tune", "--trace", str(trace), "--format", fmt, "--warmup-s", "1800", "--workers", "1",
        "--space", "given", "--choices", "target_utilisation=0.8", "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output  # 1: the sample cannot meet the SLO
    doc = json.loads((tmp_path / "o" / "tune.json").read_text())
    assert doc["objective"] == "replay" and doc["trace"]["fmt"] == fmt
    assert doc["trials"][0]["state"] == "complete"


def test_forecast_error_objective_stays_selectable(tmp_path: Path) -> None:
    series = daily_series(tmp_path)
    result = prewarm(
        "tune", "--series", str(series), "--forecasters", "last-value", "--out", str(tmp_path)
    )
    assert result.exit_code == 0, result.output  # --series: forecast error by default
    assert (tmp_path / "forecast.yaml").exists()
    trace = write_rate_trace(tmp_path)
    result = prewarm(
        "tune", "--objective", "forecast-error", "--trace", str(trace), "--format", "rate",
        "--forecasters", "last-value", "--warmup-s", "3600", "--out", str(tmp_path / "fe"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fe" / "forecast.yaml").exists()
    assert "objective" not in json.loads((tmp_path / "fe" / "tune.json").read_text())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--range", "target_utilisation=0.9:0.5"],
         "--range target_utilisation=0.9:0.5: needs low <= high"),
        (["--choices", "forecast.kind=prophet"], "unknown kind(s) prophet"),
        (["--range", "capacity.nope=1:2"], "capacity.nope: unknown key"),
        (["--objective", "best"], "unknown --objective 'best'"),
        (["--workers", "2", "--ray-address", "auto"], "--workers is for local processes"),
        (["--ray-address", "nowhere"], "--ray-address 'nowhere': expected auto"),
        (["--objective", "replay", "--under-weight", "5"],
         "--under-weight is for --objective forecast-error"),
        (["--forecasters", "last-value", "--range", "target_utilisation=0.5:0.9"],
         "--range is for --objective replay"),
        (["--space", "given"], "give at least one"),
        (["--process", "gamma", "--format", "azure"], "--process shape arrivals"),
        (["--bucket-s", "300"], "--bucket-s read Prometheus history"),
    ],
    ids=["range", "kind", "path", "objective", "workers-ray", "ray-address", "fe-option",
         "both-objectives", "empty-space", "synthesis", "bucket"],
)  # fmt: skip
def test_bad_input_exits_2_naming_it(tmp_path: Path, args: list[str], message: str) -> None:
    trace = write_rate_trace(tmp_path)
    fmt = [] if "--format" in args else ["--format", "rate"]
    result = prewarm("tune", "--trace", str(trace), *fmt, "--out", str(tmp_path / "o"), *args)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not (tmp_path / "o" / "tune.json").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "missing.csv", "--format", "rate"], "missing.csv"),
        (["--trace", "x.csv"], "--trace needs --format"),
        (["--objective", "replay", "--series", "x.csv"], "--series is a demand series"),
        (["--prometheus", "http://127.0.0.1:9", "--end-s", "1700000000"],
         "--prometheus needs --model"),
        (["--prometheus", "http://127.0.0.1:9", "--model", "m", "--end-s", "1700000000"],
         "Prometheus at http://127.0.0.1:9: cannot connect"),
    ],
    ids=["missing-file", "no-format", "series", "no-model", "unreachable"],
)  # fmt: skip
def test_bad_sources_exit_2_naming_them(tmp_path: Path, args: list[str], message: str) -> None:
    result = prewarm("tune", *args, "--out", str(tmp_path / "o"))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
