"""Trace loaders: good files load exactly, malformed ones name the file, line and problem."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from simulations.traces.azure import load_azure
from simulations.traces.azure2024 import load_azure2024_digitized
from simulations.traces.burstgpt import load_burstgpt
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


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_azure_loads_relative_arrivals_with_seven_digit_fractions(tmp_path: Path) -> None:
    trace = load_azure(write(tmp_path, "a.csv", AZURE_GOOD))
    assert trace.n_requests == 3
    np.testing.assert_allclose(trace.arrival_s, [0.0, 0.052, 1.52004], atol=1e-6)
    assert trace.prompt_tokens.tolist() == [4808, 3180, 100]
    assert trace.output_tokens.tolist() == [10, 8, 1]  # 0 generated still took a step


def test_azure_sorts_out_of_order_rows(tmp_path: Path) -> None:
    lines = AZURE_GOOD.splitlines()
    shuffled = "\n".join([lines[0], lines[2], lines[1], lines[3]]) + "\n"
    trace = load_azure(write(tmp_path, "a.csv", shuffled))
    assert np.all(np.diff(trace.arrival_s) >= 0)
    assert trace.prompt_tokens.tolist() == [4808, 3180, 100]


def test_mooncake_loads_ms_timestamps_and_prefix_reuse(tmp_path: Path) -> None:
    trace = load_mooncake(write(tmp_path, "m.jsonl", MOONCAKE_GOOD))
    assert trace.arrival_s.tolist() == [0.0, 3.0]
    assert trace.prompt_tokens.tolist() == [6758, 7322]
    assert trace.meta["prefix_block_reuse"] == pytest.approx(2 / 6, abs=1e-4)


def test_burstgpt_keeps_failures_and_filters_models(tmp_path: Path) -> None:
    path = write(tmp_path, "b.csv", BURSTGPT_GOOD)
    trace = load_burstgpt(path)
    assert trace.arrival_s.tolist() == [0.0, 40.0, 55.0]
    assert trace.output_tokens.tolist() == [18, 1, 120]
    assert trace.meta["failed_requests"] == 1
    assert load_burstgpt(path, model="ChatGPT").n_requests == 2


def test_rate_series_reads_optional_token_columns(tmp_path: Path) -> None:
    text = "t_s,rate_rps,input_tokens_per_s,extra\n100,2.0,4000,x\n700,3.0,6000,y\n"
    series = load_rate_series(write(tmp_path, "r.csv", text))
    assert series.t_s.tolist() == [0.0, 600.0]
    assert series.rate_rps.tolist() == [2.0, 3.0]
    assert series.input_tokens_per_s is not None
    assert series.output_tokens_per_s is None
    assert series.end_s == 1200.0  # the last row lasts the median step


MALFORMED = [
    ("azure", "a.csv", "", 1, "empty"),
    ("azure", "a.csv", "TIME,ContextTokens,GeneratedTokens\n", 1, "TIMESTAMP"),
    ("azure", "a.csv", AZURE_GOOD + "2023-11-16 18:17:06.1,12\n", 5, "columns"),
    ("azure", "a.csv", AZURE_GOOD.replace("3180", "lots"), 3, "ContextTokens"),
    ("azure", "a.csv", AZURE_GOOD.replace("4808", "-4"), 2, ">= 0"),
    ("azure", "a.csv", AZURE_GOOD.replace("2023-11-16 18:17:04", "yesterday"), 3, "date-time"),
    ("mooncake", "m.jsonl", MOONCAKE_GOOD + "{not json\n", 3, "JSON"),
    ("mooncake", "m.jsonl", MOONCAKE_GOOD + '{"timestamp": 1}\n', 3, "input_length"),
    ("mooncake", "m.jsonl", MOONCAKE_GOOD.replace("7322", '"x"'), 2, "input_length"),
    ("burstgpt", "b.csv", BURSTGPT_GOOD.replace("1087,0", "1087,-1"), 3, "Response tokens"),
    ("rate", "r.csv", "t_s,rate_rps\n0,1\n0,2\n", 3, "increase"),
    ("rate", "r.csv", "t_s,rate_rps\n0,1\n60,-2\n", 3, "rate_rps"),
    ("rate", "r.csv", "t_s,rps\n0,1\n", 1, "rate_rps"),
]


@pytest.mark.parametrize(
    ("fmt", "name", "text", "line", "words"),
    MALFORMED,
    ids=[f"{m[0]}-{i}-{m[4]}" for i, m in enumerate(MALFORMED)],
)
def test_malformed_files_name_file_line_and_problem(
    tmp_path: Path, fmt: str, name: str, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(TraceFormatError) as caught:
        load_trace(path, fmt)
    assert caught.value.line == line
    assert str(path) in str(caught.value)
    assert words in str(caught.value)


def test_missing_file_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_trace(tmp_path / "nope.csv", "azure")
    with pytest.raises(ValueError, match="azure, mooncake, burstgpt, rate"):
        load_trace(write(tmp_path, "a.csv", AZURE_GOOD), "parquet")


def test_real_azure_2023_code_trace(shared_dir: Path) -> None:
    trace = load_trace(shared_dir / "traces/azure2023/AzureLLMInferenceTrace_code.csv", "azure")
    assert trace.n_requests == 8819
    assert 3000 < trace.duration_s < 3700
    assert 1900 < trace.prompt_tokens.mean() < 2200


def test_real_mooncake_trace(shared_dir: Path) -> None:
    trace = load_trace(shared_dir / "traces/mooncake/conversation_trace.jsonl", "mooncake")
    assert trace.n_requests == 12031
    assert 0.3 < trace.meta["prefix_block_reuse"] < 0.45


def test_real_azure_2024_series(shared_dir: Path) -> None:
    folder = shared_dir / "traces/azure2024"
    series = load_azure2024_digitized(
        folder / "azure2024_code_requests_per_min_digitized.csv",
        folder / "azure2024_code_input_tokens_per_min_digitized.csv",
    )
    assert series.end_s / 86400 == pytest.approx(7.0, abs=0.1)
    mean_rps = float((series.rate_rps * series.step_s).sum() / series.end_s)
    assert mean_rps * 60 == pytest.approx(1670, rel=0.05)
    assert series.input_tokens_per_s is not None and series.input_tokens_per_s.min() > 0
