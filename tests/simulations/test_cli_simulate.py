"""`prewarm simulate` as a user runs it: the installed console script, real files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PREWARM = Path(sys.executable).parent / "prewarm"


def prewarm(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(PREWARM) if PREWARM.exists() else shutil.which("prewarm")
    assert exe, "the prewarm console script is not installed (pip install -e .)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=600)


def write_azure(tmp_path: Path, rows: int = 3000) -> Path:
    path = tmp_path / "trace.csv"
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(rows):
        seconds = i * 0.5  # 2 req/s for 25 min
        lines.append(f"2023-11-16 18:{17 + int(seconds // 60):02d}:{seconds % 60:09.6f}0,2000,30")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_simulate_writes_summary_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = prewarm(
        "simulate",
        "--trace",
        str(write_azure(tmp_path)),
        "--format",
        "azure",
        "--policies",
        "predictive,static,oracle",
        "--cold-start-s",
        "120",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    # 25 min of arrivals: the default warm-up is a quarter of it, the rest is scored.
    assert summary["trace"]["requests"] == 3000
    assert summary["warmup_s"] == pytest.approx(1499.5 / 4)
    assert summary["requests"] == 2250
    assert "6 min warm-up" in (out / "report.md").read_text()
    assert "6 min warm-up" in result.stdout  # 374.875 s, in the table's title
    assert list(summary["policies"]) == ["predictive", "static", "oracle"]
    for name in ("report.md", "capacity.png", "ttft.png"):
        assert (out / name).stat().st_size > 0
    assert "predictive" in result.stdout and "report.md" in result.stdout


def test_json_flag_prints_the_summary(tmp_path: Path) -> None:
    result = prewarm(
        "simulate",
        "--trace",
        str(write_azure(tmp_path, 600)),
        "--policies",
        "static",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["policies"]["static"]["replica_changes"] == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--policies", "predictive,magic"], "magic"),
        (["--format", "parquet"], "parquet"),
        (["--trace", "/nonexistent/trace.csv"], "/nonexistent/trace.csv"),
        (["--profile", "/nonexistent/p.yaml"], "/nonexistent/p.yaml"),
        # Was a traceback (OverflowError in the first forecast): min=0 lets inf through.
        (["--cold-start-s", "inf"], "--cold-start-s must be a finite number"),
        (["--cold-start-s", "1e12"], "cold_start_s: Input should be less than or equal to 7200"),
        # Was "expected non-negative integer" from numpy, naming no option.
        (["--seed", "-1"], "--seed"),
        # Were silently ignored: only rate series are synthesised.
        (["--max-requests", "5"], "--max-requests shape arrivals"),
        (["--process", "gamma", "--cv", "3"], "--process, --cv shape arrivals"),
    ],
    ids=[
        "unknown-policy",
        "unknown-format",
        "missing-trace",
        "missing-profile",
        "infinite-cold-start",
        "huge-cold-start",
        "negative-seed",
        "max-requests-on-the-bundled-trace",
        "gamma-on-the-bundled-trace",
    ],
)
def test_bad_input_exits_2_naming_the_problem(tmp_path: Path, args: list[str], words: str) -> None:
    result = prewarm("simulate", *args, "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert words in result.stderr + result.stdout
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_warmup_zero_replays_and_scores_the_whole_trace(tmp_path: Path) -> None:
    result = prewarm(
        "simulate",
        "--trace",
        str(write_azure(tmp_path, 600)),
        "--policies",
        "static",
        "--warmup-s",
        "0",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["requests"] == 600 and summary["warmup_s"] == 0.0


@pytest.mark.parametrize("inside", ["", "sub"], ids=["out-is-a-file", "out-under-a-file"])
def test_an_out_that_is_a_file_exits_2_before_replaying(tmp_path: Path, inside: str) -> None:
    """Was a FileExistsError traceback after the whole replay (a minute for Azure 2024)."""
    blocker = tmp_path / "taken"
    blocker.write_text("")
    out = blocker / inside if inside else blocker
    trace = str(write_azure(tmp_path, 600))
    result = prewarm("simulate", "--trace", trace, "--policies", "static", "--out", str(out))
    assert result.returncode == 2, result.stderr
    message = " ".join(result.stdout.split())  # rich wraps at 80 columns
    assert f"--out {out}" in message and "Traceback" not in result.stderr
    assert "Replaying" not in result.stdout  # refused before the replay


def test_a_warmup_as_long_as_the_trace_exits_2(tmp_path: Path) -> None:
    trace = str(write_azure(tmp_path, 600))  # last request at 299.5 s
    result = prewarm("simulate", "--trace", trace, "--warmup-s", "300", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "--warmup-s 300 leaves nothing to replay" in result.stderr + result.stdout


def test_azure2024_format_reads_the_digitised_series(tmp_path: Path) -> None:
    requests = tmp_path / "code_requests_per_min_digitized.csv"
    requests.write_text(
        "t,env_low,env_high,mid\n"
        + "".join(f"2024-05-10 00:{m:02d}:00,0,0,120\n" for m in range(0, 60, 10))
    )
    result = prewarm(
        "simulate",
        "--trace",
        str(requests),
        "--format",
        "azure2024",
        "--policies",
        "static",
        "--out",
        str(tmp_path / "o"),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["trace"]["name"] == "azure2024-code"
    assert 6800 < summary["trace"]["requests"] < 7600  # 2 req/s for an hour


def test_invalid_profile_lists_its_bad_fields(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("model: m\ncapacity: {prompt_tokens_per_s: 0}\ncold_start: 5\n")
    result = prewarm("simulate", "--profile", str(profile), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    output = result.stderr + result.stdout
    for field in ("capacity.prompt_tokens_per_s", "capacity.kv_cache_tokens", "cold_start"):
        assert field in output


def test_warns_when_the_profile_cannot_hold_the_peak(tmp_path: Path) -> None:
    profile = tmp_path / "small.yaml"
    profile.write_text(
        "model: m\ncapacity: {prompt_tokens_per_s: 500, generation_tokens_per_s: 500,"
        " kv_cache_tokens: 400000}\nreplicas: {min: 1, max: 2}\n"
    )
    result = prewarm(
        "simulate",
        "--trace",
        str(write_azure(tmp_path)),
        "--profile",
        str(profile),
        "--policies",
        "static",
        "--out",
        str(tmp_path / "o"),
    )
    assert result.returncode == 0, result.stderr
    assert "replicas.max = 2" in result.stdout


def test_demand_arriving_out_of_idle_does_not_send_prewarm_to_its_maximum(
    tmp_path: Path,
) -> None:
    # Two idle hours, then 2 req/s for two. The forecaster follows slowly; its misses while
    # traffic had no yardstick once put the upper quantile at 1,000x the mean: 64 replicas
    # and 117 GPU-hours where the oracle needs 3.
    trace = tmp_path / "late.csv"
    rows = [f"{t},{0 if t < 7200 else 2}" for t in range(0, 4 * 3600, 60)]
    trace.write_text("t_s,rate_rps\n" + "\n".join(rows) + "\n")
    result = prewarm(
        "simulate", "--trace", str(trace), "--format", "rate", "--warmup-s", "3600",
        "--policies", "predictive,oracle", "--out", str(tmp_path / "o"), "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    policies = json.loads(result.stdout)["policies"]
    predictive, oracle = policies["predictive"], policies["oracle"]
    assert predictive["gpu_hours"] < 2 * oracle["gpu_hours"], (predictive, oracle)
    assert predictive["peak_replicas"] <= 2 * oracle["peak_replicas"]


def test_a_trace_of_another_format_is_told_which_format_was_assumed(tmp_path: Path) -> None:
    mooncake = tmp_path / "trace.jsonl"
    mooncake.write_text('{"timestamp": 0, "input_length": 10, "output_length": 5}\n')
    result = prewarm("simulate", "--trace", str(mooncake), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "read as --format azure" in result.stderr + result.stdout
    assert "mooncake" in result.stderr + result.stdout
