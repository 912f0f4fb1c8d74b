"""A small file in every trace format of the registry: four hours at ~0.5 requests/s."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

HOURS = 4.0
RPS = 0.5
_START = datetime(2024, 5, 10)


def _arrivals_s() -> list[float]:
    return [i / RPS for i in range(int(HOURS * 3600 * RPS))]


def _stamp(seconds: float, digits: int = 7) -> str:
    moment = _START + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond:06d}0"[:digits]


def _azure(path: Path) -> None:
    rows = [f"{_stamp(t)},2000,30" for t in _arrivals_s()]
    path.write_text("\n".join(["TIMESTAMP,ContextTokens,GeneratedTokens", *rows]) + "\n")


def _mooncake(path: Path) -> None:
    rows = [
        json.dumps(
            {"timestamp": int(t * 1000), "input_length": 2000, "output_length": 30, "hash_ids": [0]}
        )
        for t in _arrivals_s()
    ]
    path.write_text("\n".join(rows) + "\n")


def _burstgpt(path: Path) -> None:
    header = "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type"
    rows = [f"{t:g},ChatGPT,2000,30,2030,Conversation log" for t in _arrivals_s()]
    path.write_text("\n".join([header, *rows]) + "\n")


def _rate(path: Path) -> None:
    rows = [f"{t},{RPS},{RPS * 2000},{RPS * 30}" for t in range(0, int(HOURS * 3600), 60)]
    header = "t_s,rate_rps,input_tokens_per_s,output_tokens_per_s"
    path.write_text("\n".join([header, *rows]) + "\n")


SERVEGEN_HEADER = (
    "t_s,rate_rps,active_clients,covered_rate_rps,est_input_tok_per_s_covered,"
    "est_output_tok_per_s_covered,rate_weighted_client_cv"
)


def _servegen(path: Path) -> None:
    # Half the requests covered, their prompts 2,000 tokens; the fourth row is a gap.
    rows = [
        f"{t},{RPS},3,{RPS / 2},{RPS / 2 * 2000},{RPS / 2 * 30},1.2"
        if i != 3
        else f"{t},0,0,0,0,0,0"
        for i, t in enumerate(range(0, int(HOURS * 3600), 600))
    ]
    path.write_text("\n".join([SERVEGEN_HEADER, *rows]) + "\n")


def _azure2024(path: Path) -> None:
    rows = [f"{_stamp(t, 9)},20,40,{RPS * 60}" for t in range(0, int(HOURS * 3600), 432)]
    path.write_text("\n".join(["t,env_low,env_high,mid", *rows]) + "\n")


SAMPLES = {
    "azure": ("azure.csv", _azure),
    "mooncake": ("mooncake.jsonl", _mooncake),
    "burstgpt": ("burstgpt.csv", _burstgpt),
    "rate": ("rate.csv", _rate),
    "servegen": ("aggregate_sample.csv", _servegen),
    "azure2024": ("azure2024_code_requests_per_min_digitized.csv", _azure2024),
}


def write_sample(directory: Path, fmt: str) -> Path:
    """The sample file of `fmt` in `directory`; KeyError for a format with no sample yet."""
    name, write = SAMPLES[fmt]
    path = directory / name
    write(path)
    return path
