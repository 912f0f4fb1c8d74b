"""Trace loaders: good files load exactly, malformed ones name the file, line and problem."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from simulations.traces.azure import load_azure
from simulations.traces.azure2024 import load_azure2024_digitized
from simulations.traces.burstgpt import load_burstgpt
from simulations.traces.formats import FORMAT_NAMES
from simulations.traces.loader import load_trace
from simulations.traces.mooncake import load_mooncake
from simulations.traces.rate_series import load_rate_series
from simulations.traces.request_trace import TraceFormatError

AZURE_GOOD = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:17:03.9799600,4808,10
2023-11-16 18:17:04.0319600,3180,8
2023-11-16 18:17:05.5000000,100,0
"""

MOONCAKE_GOOD = (
    '{"timestamp": 0, "input_length": 6758, "output_length": 500, "hash_ids": [0, 1, 2]}\n'
    '{"timestamp": 3000, "input_length": 7322, "output_length": 490, "hash_ids": [0, 1, 3]}\n'
)

BURSTGPT_GOOD = """Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
5,ChatGPT,472,18,490,Conversation log
45,GPT-4,1087,0,1087,Conversation log
60,ChatGPT,300,120,420,API log
"""

RATE_GOOD = "t_s,rate_rps,input_tokens_per_s,extra\n100,2.0,4000,x\n700,3.0,6000,y\n1000,0,0,z\n"

AZ24_REQUESTS = """t,env_low,env_high,mid
2024-05-10 00:00:00.000000000,100,140,120
2024-05-10 00:10:00.500000000,200,280,240
2024-05-10 00:20:00.000000000,50,70,60
"""

AZ24_TOKENS = """t,env_low,env_high,mid
2024-05-09 23:50:00,0,0,60000
2024-05-10 00:30:00,0,0,300000
"""


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# --- good files ---------------------------------------------------------------------------


def test_azure_loads_relative_arrivals_with_seven_digit_fractions(tmp_path: Path) -> None:
    trace = load_azure(write(tmp_path, "a.csv", AZURE_GOOD))
    assert trace.n_requests == 3
    # 100 ns digits survive: the whole seconds are subtracted before adding fractions.
    np.testing.assert_allclose(trace.arrival_s, [0.0, 0.052, 1.52004], atol=1e-9)
    assert trace.arrival_s.dtype == np.float64
    assert trace.prompt_tokens.dtype == np.int32 and trace.output_tokens.dtype == np.int32
    assert trace.prompt_tokens.tolist() == [4808, 3180, 100]
    assert trace.output_tokens.tolist() == [10, 8, 1]  # 0 generated still took a step
    assert trace.name == "a" and trace.source.endswith("a.csv")


def test_azure_sorts_out_of_order_rows_stably(tmp_path: Path) -> None:
    text = (
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-11-16 18:17:05.0000000,3,1\n"
        "2023-11-16 18:17:04.0000000,1,1\n"
        "2023-11-16 18:17:05.0000000,4,1\n"  # ties keep file order
        "2023-11-16 18:17:04.5,2,1\n"  # fewer digits are fine too
    )
    trace = load_azure(write(tmp_path, "a.csv", text))
    assert trace.arrival_s.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert trace.prompt_tokens.tolist() == [1, 2, 3, 4]


def test_azure_tolerates_bom_crlf_and_blank_lines(tmp_path: Path) -> None:
    text = AZURE_GOOD.replace("\n", "\r\n")
    text = text.replace("\r\n2023-11-16 18:17:05", "\r\n\r\n2023-11-16 18:17:05")
    path = write(tmp_path, "a.csv", b"\xef\xbb\xbf" + text.encode())
    assert load_azure(path).prompt_tokens.tolist() == [4808, 3180, 100]


@pytest.mark.skipif(not hasattr(time, "tzset"), reason="needs time.tzset (Unix)")
def test_azure_ignores_local_daylight_saving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Naive times are UTC, so a local clock change between rows cannot bend arrivals."""
    text = (
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2023-03-26 01:30:00.0,1,1\n"
        "2023-03-26 03:30:00.0,1,1\n"  # Berlin skipped 02:00-03:00 that night
    )
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        trace = load_azure(write(tmp_path, "a.csv", text))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert trace.arrival_s.tolist() == [0.0, 7200.0]


def test_mooncake_loads_ms_timestamps_and_prefix_reuse(tmp_path: Path) -> None:
    trace = load_mooncake(write(tmp_path, "m.jsonl", MOONCAKE_GOOD + "\n"))
    assert trace.arrival_s.tolist() == [0.0, 3.0]
    assert trace.prompt_tokens.tolist() == [6758, 7322]
    assert trace.output_tokens.tolist() == [500, 490]
    assert trace.meta["prefix_block_reuse"] == pytest.approx(2 / 6, abs=1e-4)


def test_mooncake_sorts_and_makes_arrivals_relative(tmp_path: Path) -> None:
    text = (
        '{"timestamp": 9000, "input_length": 2, "output_length": 0}\n'
        '{"timestamp": 6000, "input_length": 1, "output_length": 5}\n'
    )
    trace = load_mooncake(write(tmp_path, "m.jsonl", text))
    assert trace.arrival_s.tolist() == [0.0, 3.0]
    assert trace.prompt_tokens.tolist() == [1, 2]
    assert trace.output_tokens.tolist() == [5, 1]
    assert "prefix_block_reuse" not in trace.meta  # no hash_ids, nothing to report


def test_burstgpt_keeps_failures_and_filters_models(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", BURSTGPT_GOOD)
    trace = load_burstgpt(path)
    assert trace.arrival_s.tolist() == [0.0, 40.0, 55.0]
    assert trace.output_tokens.tolist() == [18, 1, 120]
    assert trace.meta["failed_requests"] == 1
    chat = load_burstgpt(path, model="ChatGPT")
    assert chat.arrival_s.tolist() == [0.0, 55.0]
    assert chat.meta == {"failed_requests": 0, "model": "ChatGPT"}
    with pytest.raises(TraceFormatError, match="Claude"):
        load_burstgpt(path, model="Claude")


def test_rate_series_reads_optional_token_columns(tmp_path: Path) -> None:
    series = load_rate_series(write(tmp_path, "r.csv", RATE_GOOD))
    assert series.t_s.tolist() == [0.0, 600.0, 900.0]  # shifted to start at 0
    assert series.rate_rps.tolist() == [2.0, 3.0, 0.0]
    assert series.input_tokens_per_s is not None
    assert series.input_tokens_per_s.tolist() == [4000.0, 6000.0, 0.0]
    assert series.output_tokens_per_s is None
    # Steps 600 and 300: the last row lasts their median, 450 s.
    assert series.step_s.tolist() == [600.0, 300.0, 450.0]
    assert series.end_s == 1350.0
    assert series.expected_requests == pytest.approx(2 * 600 + 3 * 300)


def test_azure2024_digitized_per_minute_to_per_second(tmp_path: Path) -> None:
    series = load_azure2024_digitized(
        write(tmp_path, "req.csv", AZ24_REQUESTS), write(tmp_path, "tok.csv", AZ24_TOKENS)
    )
    np.testing.assert_allclose(series.t_s, [0.0, 600.5, 1200.0], atol=1e-9)
    np.testing.assert_allclose(series.rate_rps, [2.0, 4.0, 1.0])
    # Tokens go 60,000 -> 300,000 per minute from 23:50 to 00:30: linear in between.
    per_min = 60000 + (300000 - 60000) * (np.array([600.0, 1200.5, 1800.0]) / 2400.0)
    np.testing.assert_allclose(series.input_tokens_per_s, per_min / 60.0)
    assert series.output_tokens_per_s is None
    no_tokens = load_azure2024_digitized(tmp_path / "req.csv")
    assert no_tokens.input_tokens_per_s is None


def test_load_trace_dispatches_every_format(tmp_path: Path) -> None:
    files = {
        "azure": write(tmp_path, "a.csv", AZURE_GOOD),
        "mooncake": write(tmp_path, "m.jsonl", MOONCAKE_GOOD),
        "burstgpt": write(tmp_path, "b.csv", BURSTGPT_GOOD),
        "rate": write(tmp_path, "r.csv", RATE_GOOD),
        "azure2024": write(tmp_path, "az_requests_per_min.csv", AZ24_REQUESTS),
    }
    assert set(files) == set(FORMAT_NAMES) - {"servegen"}  # servegen: test_trace_formats.py
    counts = {fmt: load_trace(path, fmt).n_requests for fmt, path in files.items()}
    assert counts["azure"] == 3 and counts["mooncake"] == 2 and counts["burstgpt"] == 3
    assert 2000 < counts["rate"] < 2200  # Poisson with mean 2,100
    again = load_trace(files["rate"], "rate", seed=0)
    assert np.array_equal(again.arrival_s, load_trace(files["rate"], "rate").arrival_s)
    gamma = load_trace(files["rate"], "rate", seed=1, process="gamma", cv=2.0)
    assert gamma.meta["arrivals"] == "gamma" and gamma.meta["cv"] == 2.0
    capped = load_trace(files["rate"], "rate", max_requests=10)
    assert capped.n_requests == 10 and capped.meta["truncated"] is True
    # 120, 240, 60 requests per minute for 600 s each: 4,200 expected.
    assert 4000 < counts["azure2024"] < 4400


def test_azure2024_reads_the_token_file_beside_the_requests_file(tmp_path: Path) -> None:
    requests = write(tmp_path, "code_requests_per_min_digitized.csv", AZ24_REQUESTS)
    alone = load_trace(requests, "azure2024")
    assert alone.prompt_tokens.mean() == pytest.approx(2048, rel=0.1)  # the default mean
    tokens = write(tmp_path, "code_input_tokens_per_min_digitized.csv", AZ24_TOKENS)
    paired = load_trace(requests, "azure2024")
    # Same seed, same rates: the same arrivals, with prompts from the token rate instead.
    assert np.array_equal(paired.arrival_s, alone.arrival_s)
    expected = load_azure2024_digitized(requests, tokens)
    assert expected.input_tokens_per_s is not None
    mean_prompt = (expected.input_tokens_per_s * 600).sum() / (expected.rate_rps * 600).sum()
    assert paired.prompt_tokens.mean() == pytest.approx(mean_prompt, rel=0.1)
    assert str(tokens) in paired.source
    with pytest.raises(TraceFormatError, match="input-token file"):
        load_trace(tokens, "azure2024")


# --- malformed files ------------------------------------------------------------------------

FILE_NAMES = {"azure": "a.csv", "mooncake": "m.jsonl", "burstgpt": "b.csv", "rate": "r.csv"}
AZ, MOON, BURST, RATE = "azure", "mooncake", "burstgpt", "rate"
AZURE_BLANK_LINE = AZURE_GOOD.replace("\n2023-11-16 18:17:05", "\n\n2023-11-16 18:17:05")

# id: (format, contents, 1-based line in the error, words the message must contain)
MALFORMED = {
    "azure-empty": (AZ, "", 1, "empty"),
    "azure-header-only": (AZ, "TIMESTAMP,ContextTokens,GeneratedTokens\n", 2, "no"),
    "azure-wrong-header": (AZ, "TIME,ContextTokens,GeneratedTokens\n", 1, "TIMESTAMP"),
    "azure-no-header": (AZ, AZURE_GOOD.split("\n", 1)[1], 1, "header"),
    "azure-short-row": (AZ, AZURE_GOOD + "2023-11-16 18:17:06.1,12\n", 5, "columns"),
    "azure-long-row": (AZ, AZURE_GOOD.replace(",8\n", ",8,9\n"), 3, "columns"),
    "azure-non-numeric": (AZ, AZURE_GOOD.replace("3180", "lots"), 3, "ContextTokens"),
    "azure-negative": (AZ, AZURE_GOOD.replace("4808", "-4"), 2, ">= 0"),
    "azure-fractional": (AZ, AZURE_GOOD.replace(",10\n", ",1.5\n"), 2, "whole"),
    "azure-nan": (AZ, AZURE_GOOD.replace(",10\n", ",nan\n"), 2, "GeneratedTokens"),
    "azure-huge": (AZ, AZURE_GOOD.replace("4808", "9" * 12), 2, "whole"),
    "azure-bad-date": (AZ, AZURE_GOOD.replace("2023-11-16 18:17:04", "yesterday"), 3, "date-time"),
    "azure-bad-fraction": (AZ, AZURE_GOOD.replace("04.0319600", "04.03e5"), 3, "date-time"),
    "azure-blank-line-counted": (AZ, AZURE_BLANK_LINE.replace(",100,", ",x,"), 5, "ContextTokens"),
    "mooncake-empty": (MOON, "", 1, "no requests"),
    "mooncake-bad-json": (MOON, MOONCAKE_GOOD + "{not json\n", 3, "JSON"),
    "mooncake-not-object": (MOON, "[1, 2]\n", 1, "object"),
    "mooncake-missing-field": (MOON, MOONCAKE_GOOD + '{"timestamp": 1}\n', 3, "input_length"),
    "mooncake-string-length": (MOON, MOONCAKE_GOOD.replace("7322", '"x"'), 2, "input_length"),
    "mooncake-negative-output": (MOON, MOONCAKE_GOOD.replace("490", "-1"), 2, "output_length"),
    "mooncake-bool-length": (MOON, MOONCAKE_GOOD.replace("6758", "true"), 1, "input_length"),
    "mooncake-bad-timestamp": (
        MOON,
        MOONCAKE_GOOD.replace('"timestamp": 3000', '"timestamp": -5'),
        2,
        "timestamp",
    ),
    "mooncake-bad-hash-ids": (MOON, MOONCAKE_GOOD.replace("[0, 1, 3]", '"abc"'), 2, "hash_ids"),
    "burstgpt-empty": (BURST, "", 1, "empty"),
    "burstgpt-header-only": (BURST, BURSTGPT_GOOD.split("\n")[0] + "\n", 2, "no"),
    "burstgpt-missing-column": (
        BURST,
        "Timestamp,Model,Request tokens\n1,a,2\n",
        1,
        "Response tokens",
    ),
    "burstgpt-negative": (BURST, BURSTGPT_GOOD.replace("1087,0", "1087,-1"), 3, "Response tokens"),
    "burstgpt-bad-time": (BURST, BURSTGPT_GOOD.replace("60,", "1pm,"), 4, "Timestamp"),
    "rate-empty": (RATE, "", 1, "empty"),
    "rate-header-only": (RATE, "t_s,rate_rps\n", 2, "no rows"),
    "rate-missing-column": (RATE, "t_s,rps\n0,1\n", 1, "rate_rps"),
    "rate-not-increasing": (RATE, "t_s,rate_rps\n0,1\n0,2\n", 3, "increase"),
    "rate-decreasing": (RATE, "t_s,rate_rps\n0,1\n60,1\n30,1\n", 4, "increase"),
    "rate-negative": (RATE, "t_s,rate_rps\n0,1\n60,-2\n", 3, "rate_rps"),
    "rate-non-numeric": (RATE, "t_s,rate_rps\n0,1\n60,many\n", 3, "not a number"),
    "rate-infinite": (RATE, "t_s,rate_rps\n0,inf\n", 2, "finite"),
    "rate-negative-tokens": (
        RATE,
        "t_s,rate_rps,output_tokens_per_s\n0,1,5\n60,1,-5\n",
        3,
        "output_tokens_per_s",
    ),
    "rate-column-count": (RATE, "t_s,rate_rps\n0,1\n60\n", 3, "columns"),
}


@pytest.mark.parametrize(
    ("fmt", "text", "line", "words"), list(MALFORMED.values()), ids=list(MALFORMED)
)
def test_malformed_files_name_file_line_and_problem(
    tmp_path: Path, fmt: str, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, FILE_NAMES[fmt], text)
    with pytest.raises(TraceFormatError) as caught:
        load_trace(path, fmt)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert words in str(caught.value)


AZ24_MALFORMED = {
    "t-not-increasing": (AZ24_REQUESTS.replace("00:20:00", "00:05:00"), 4, "increase"),
    "t-not-a-date": (AZ24_REQUESTS.replace("2024-05-10 00:10:00.500000000", "soon"), 3, "t"),
    "mid-missing": ("t,env_low,env_high\n2024-05-10 00:00:00,1,2\n", 1, "mid"),
    "one-row": ("\n".join(AZ24_REQUESTS.splitlines()[:2]) + "\n", 3, "two"),
    "negative-mid": (AZ24_REQUESTS.replace(",240\n", ",-240\n"), 3, "mid"),
}


@pytest.mark.parametrize(
    ("text", "line", "words"), list(AZ24_MALFORMED.values()), ids=list(AZ24_MALFORMED)
)
def test_malformed_azure2024_files(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, "req.csv", text)
    with pytest.raises(TraceFormatError) as caught:
        load_azure2024_digitized(path)
    assert caught.value.line == line
    assert str(path) in str(caught.value) and words in str(caught.value)


def test_missing_file_unknown_format_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_trace(tmp_path / "nope.csv", "azure")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_azure2024_digitized(write(tmp_path, "r.csv", AZ24_REQUESTS), tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="azure, mooncake, burstgpt, rate"):
        load_trace(write(tmp_path, "a.csv", AZURE_GOOD), "parquet")
    with pytest.raises(TraceFormatError, match="directory"):
        load_trace(tmp_path, "azure")


# --- the public traces beside the project (skipped without ../shared, fail under CI=true) ----


def test_real_azure_2023_code_trace(shared_dir: Path) -> None:
    trace = load_trace(shared_dir / "traces/azure2023/AzureLLMInferenceTrace_code.csv", "azure")
    assert trace.n_requests == 8819
    assert trace.arrival_s[0] == 0.0 and np.all(np.diff(trace.arrival_s) >= 0)
    assert 3000 < trace.duration_s < 3700  # one hour
    assert trace.prompt_tokens.mean() == pytest.approx(2048, rel=0.05)
    assert trace.output_tokens.mean() == pytest.approx(28, rel=0.1)


def test_real_mooncake_trace(shared_dir: Path) -> None:
    trace = load_trace(shared_dir / "traces/mooncake/conversation_trace.jsonl", "mooncake")
    assert trace.n_requests == 12031
    assert 3000 < trace.duration_s < 3700
    assert trace.meta["prefix_block_reuse"] == pytest.approx(0.37, abs=0.02)  # traces README: 37 %


def test_real_azure_2024_series(shared_dir: Path) -> None:
    folder = shared_dir / "traces/azure2024"
    series = load_azure2024_digitized(
        folder / "azure2024_code_requests_per_min_digitized.csv",
        folder / "azure2024_code_input_tokens_per_min_digitized.csv",
    )
    assert series.end_s / 86400 == pytest.approx(7.0, abs=0.1)
    mean_rps = series.expected_requests / series.end_s
    assert mean_rps * 60 == pytest.approx(1670, rel=0.05)
    assert mean_rps == pytest.approx(27.8, rel=0.05)
    assert series.input_tokens_per_s is not None and series.input_tokens_per_s.min() > 0
