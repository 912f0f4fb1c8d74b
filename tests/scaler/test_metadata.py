"""Trigger metadata: parsed in one place, every problem named by its key."""

from __future__ import annotations

import pytest

from autoscaler.scaler.metadata import MetadataError, parse_metadata


def test_minimal_metadata_defaults_to_the_scaled_objects_namespace() -> None:
    target = parse_metadata("chat", "team-a", {"model": "meta-llama/Llama-3.1-8B-Instruct"})
    assert target.scaled_object == "team-a/chat"
    assert target.namespace == "team-a"
    assert target.profile is None and target.prometheus_url is None
    assert target.metric_name == "prewarm-meta-llama-llama-3-1-8b-instruct"


def test_keda_keys_are_accepted_and_ignored() -> None:
    metadata = {
        "model": "m",
        "scalerAddress": "prewarm.prewarm:9090",
        "enableTLS": "true",
        "unsafeSsl": "false",
        "namespace": "serving",
        "profile": "llama-8b",
        "prometheusAddress": "http://prom:9090",
    }
    target = parse_metadata("so", "ns", metadata)
    assert (target.namespace, target.profile, target.prometheus_url) == (
        "serving",
        "llama-8b",
        "http://prom:9090",
    )


def test_from_env_keys_stand_for_their_key() -> None:
    # KEDA resolves `modelFromEnv: MODEL` from the workload's environment and forwards the
    # value under the `...FromEnv` name.
    target = parse_metadata("so", "ns", {"modelFromEnv": "llama", "namespaceFromEnv": "serving"})
    assert (target.model, target.namespace) == ("llama", "serving")


BAD = [
    ({"model": "m", "modle": "x"}, "unknown key 'modle'"),
    ({}, "'model' is required"),
    ({"model": "  "}, "'model' is required"),
    ({"model": "a\nb"}, "'model' must be one line"),
    ({"model": "m", "namespace": "Bad_NS"}, "'namespace'"),
    ({"model": "m", "profile": "../etc/passwd"}, "'profile'"),
    ({"model": "m", "prometheusAddress": "prom:9090"}, "'prometheusAddress'"),
    ({"model": "m", "prometheusAddress": "file:///etc"}, "'prometheusAddress'"),
    ({"model": "m", "modelFromEnv": "n"}, "'model' and 'modelFromEnv' both given"),
]


@pytest.mark.parametrize(("metadata", "words"), BAD, ids=[w for _, w in BAD])
def test_bad_metadata_names_the_key(metadata: dict[str, str], words: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata("so", "ns", metadata)
    assert words in str(caught.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata("so", "ns", {"typo1": "a", "typo2": "b", "namespace": "BAD"})
    assert len(caught.value.problems) == 4  # two unknown keys, no model, bad namespace
