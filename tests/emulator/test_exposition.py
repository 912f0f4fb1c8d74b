"""The exposition parses as Prometheus text and carries vLLM's exact names and labels."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from simulations.emulator import TTFT_BUCKETS_S, FleetSnapshot, SeriesSample, render
from simulations.emulator.exposition import escape_help, escape_label_value
from tests.emulator.helpers import constant_trace, fleet, parse

VLLM_BUCKETS = [
    "0.001",
    "0.005",
    "0.01",
    "0.02",
    "0.04",
    "0.06",
    "0.08",
    "0.1",
    "0.25",
    "0.5",
    "0.75",
    "1.0",
    "2.5",
    "5.0",
    "7.5",
    "10.0",
    "20.0",
    "40.0",
    "80.0",
    "160.0",
    "640.0",
    "2560.0",
    "+Inf",
]

# family (as prometheus_client names it) -> (type, label keys of its samples)
EXPECTED = {
    "vllm:num_requests_running": ("gauge", {"engine", "model_name", "pod"}),
    "vllm:num_requests_waiting": ("gauge", {"engine", "model_name", "pod"}),
    "vllm:kv_cache_usage_perc": ("gauge", {"engine", "model_name", "pod"}),
    "vllm:prompt_tokens": ("counter", {"engine", "model_name", "pod"}),
    "vllm:prompt_tokens_created": ("gauge", {"engine", "model_name", "pod"}),
    "vllm:generation_tokens": ("counter", {"engine", "model_name", "pod"}),
    "vllm:generation_tokens_created": ("gauge", {"engine", "model_name", "pod"}),
    "vllm:request_success": ("counter", {"engine", "finished_reason", "model_name", "pod"}),
    "vllm:request_success_created": ("gauge", {"engine", "finished_reason", "model_name", "pod"}),
    "vllm:time_to_first_token_seconds": ("histogram", {"engine", "model_name", "pod"}),
    "vllm:time_to_first_token_seconds_created": ("gauge", {"engine", "model_name", "pod"}),
}


def scraped(**kwargs: object) -> str:
    # 5 req/s of 0.3 replica-seconds: 2 replicas keep up.
    emulated, clock = fleet(constant_trace(rps=5), replicas=2, engines_per_replica=2)
    clock.advance(30.0)
    return render(emulated.snapshot(), **kwargs)  # type: ignore[arg-type]


def test_names_types_and_label_keys_are_vllms() -> None:
    families = parse(scraped())
    assert set(families) == set(EXPECTED)
    for name, (kind, keys) in EXPECTED.items():
        family = families[name]
        assert family.type == kind, name  # type: ignore[attr-defined]
        samples = family.samples  # type: ignore[attr-defined]
        assert len(samples) >= 4, name  # 2 pods x 2 engines
        for sample in samples:
            assert set(sample.labels) - {"le"} == keys, sample
            assert sample.labels["model_name"] == "demo"


def test_the_exposition_has_help_and_type_lines_and_vllm_sample_names() -> None:
    text = scraped()
    for line in (
        "# TYPE vllm:prompt_tokens_total counter",
        "# TYPE vllm:generation_tokens_total counter",
        "# TYPE vllm:request_success_total counter",
        "# TYPE vllm:time_to_first_token_seconds histogram",
        "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.",
    ):
        assert line in text.splitlines()
    sample_names = {
        s.name for family in text_string_to_metric_families(text) for s in family.samples
    }
    assert {
        "vllm:prompt_tokens_total",
        "vllm:generation_tokens_total",
        "vllm:request_success_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:time_to_first_token_seconds_sum",
        "vllm:time_to_first_token_seconds_count",
    } <= sample_names


def test_request_success_reasons_are_stop_and_abort() -> None:
    family = parse(scraped())["vllm:request_success"]
    reasons = {s.labels["finished_reason"] for s in family.samples}  # type: ignore[attr-defined]
    assert reasons == {"stop", "abort"}


def test_ttft_buckets_are_vllms_and_cumulative() -> None:
    family = parse(scraped())["vllm:time_to_first_token_seconds"]
    samples = family.samples  # type: ignore[attr-defined]
    per_series: dict[tuple[str, str], list[tuple[str, float]]] = {}
    counts: dict[tuple[str, str], float] = {}
    for s in samples:
        key = (s.labels["pod"], s.labels["engine"])
        if s.name.endswith("_bucket"):
            per_series.setdefault(key, []).append((s.labels["le"], s.value))
        elif s.name.endswith("_count"):
            counts[key] = s.value
    assert len(per_series) == 4
    for key, buckets in per_series.items():
        assert [le for le, _ in buckets] == VLLM_BUCKETS
        values = [v for _, v in buckets]
        assert values == sorted(values)
        assert values[-1] == counts[key] == pytest.approx(30 * 5 / 4)  # 30 s of 5 req/s


def test_the_emulator_buckets_are_vllms() -> None:
    assert [str(b) if b != float("inf") else "+Inf" for b in TTFT_BUCKETS_S] == VLLM_BUCKETS


@pytest.mark.parametrize(
    ("legacy", "present", "absent"),
    [
        (False, "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        (True, "vllm:gpu_cache_usage_perc", "vllm:kv_cache_usage_perc"),
    ],
    ids=["current", "legacy-pre-0.12"],
)
def test_legacy_names_switch_the_kv_gauge(legacy: bool, present: str, absent: str) -> None:
    families = parse(scraped(legacy_names=legacy))
    assert present in families and absent not in families


def test_label_values_are_escaped_and_parse_back() -> None:
    model = 'odd "model" \\ name\nline two'
    emulated, clock = fleet(model_name=model)
    clock.advance(2.0)
    text = render(emulated.snapshot())
    family = parse(text)["vllm:prompt_tokens"]
    assert {s.labels["model_name"] for s in family.samples} == {model}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("raw", "label", "help_text"),
    [
        ("plain", "plain", "plain"),
        ('a"b', 'a\\"b', 'a"b'),
        ("a\\b", "a\\\\b", "a\\\\b"),
        ("a\nb", "a\\nb", "a\\nb"),
    ],
    ids=["plain", "quote", "backslash", "newline"],
)
def test_escaping_rules(raw: str, label: str, help_text: str) -> None:
    assert escape_label_value(raw) == label
    assert escape_help(raw) == help_text


def test_an_empty_fleet_still_has_help_and_type_lines() -> None:
    snap = FleetSnapshot("demo", 0.0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ())
    families = parse(render(snap))
    assert set(families) == set(EXPECTED)
    assert all(not f.samples for f in families.values())  # type: ignore[attr-defined]


def test_values_render_as_prometheus_floats() -> None:
    sample = SeriesSample("p-0", "0", 1e20, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, (0.0,) * 23, 0.0, 1.0)
    snap = FleetSnapshot("m", 0.0, 0, 0, 1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, (sample,))
    lines = render(snap).splitlines()
    assert 'vllm:prompt_tokens_total{engine="0",model_name="m",pod="p-0"} 1e+20' in lines
    assert 'vllm:kv_cache_usage_perc{engine="0",model_name="m",pod="p-0"} 0.5' in lines


def test_families_match_the_vllm_reference_exposition(shared_dir: Path) -> None:
    """Every family the emulator writes exists in a real vLLM 0.33 exposition with the
    same type and the same label keys, `pod` aside (Prometheus adds it per target)."""
    reference = parse((shared_dir / "reference" / "vllm_metrics_example.txt").read_text())
    ours = parse(scraped())
    for name, family in ours.items():
        assert name in reference, name
        real = reference[name]
        assert family.type == real.type, name  # type: ignore[attr-defined]
        real_keys = {k for s in real.samples for k in s.labels}  # type: ignore[attr-defined]
        our_keys = {k for s in family.samples for k in s.labels} - {"pod"}  # type: ignore[attr-defined]
        assert our_keys == real_keys, name
