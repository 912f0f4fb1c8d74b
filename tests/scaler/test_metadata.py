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


# --- prometheusAddress: checked whole at parse time ---

BAD_ADDRESSES = [
    ("http://[::1", "unbalanced-ipv6"),
    ("http://prom:99999", "port-out-of-range"),
    ("http://prom:0", "port-zero"),
    ("http://prom:nine", "port-not-a-number"),
    ("http://:9090", "no-host"),
    ("ftp://prom:9090", "not-http"),
    ("http://prom :9090", "space-in-host"),
    ("http://pr\u00f6m:9090", "not-ascii"),
    ("http://prom:9090/api?x=1", "query"),
    ("http://prom:9090/#top", "fragment"),
    ("http://" + "p" * 3000 + ":9090", "too-long"),
]


@pytest.mark.parametrize("url", [u for u, _ in BAD_ADDRESSES], ids=[i for _, i in BAD_ADDRESSES])
def test_a_bad_prometheus_address_is_a_metadata_error_naming_the_key(url: str) -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata("so", "ns", {"model": "m", "prometheusAddress": url})
    assert caught.value.problems[0].startswith("key 'prometheusAddress'")


@pytest.mark.parametrize(
    "url",
    [
        "http://prom:9090",
        "https://prom.monitoring.svc.cluster.local",
        "http://[::1]:9090/prefix/",
        "http://10.0.0.7:65535",
        "http://user:pass@prom:1",
    ],
)
def test_good_prometheus_addresses_parse(url: str) -> None:
    assert (
        parse_metadata("so", "ns", {"model": "m", "prometheusAddress": url}).prometheus_url == url
    )


# --- errors stay small, whatever they were sent ---


def test_a_huge_value_is_quoted_cut_with_its_length() -> None:
    with pytest.raises(MetadataError) as caught:
        parse_metadata("so", "ns", {"model": "m", "profile": "x" * 20_000})
    message = str(caught.value)
    assert "key 'profile'" in message and "(20000 chars)" in message
    assert len(message) < 300


def test_many_problems_are_counted_past_the_first_few() -> None:
    metadata = {f"unknown{i:03}": "v" for i in range(500)} | {"model": "m"}
    with pytest.raises(MetadataError) as caught:
        parse_metadata("so", "ns", metadata)
    message = str(caught.value)
    assert len(caught.value.problems) == 500  # all kept, for callers that count them
    assert "'unknown000'" in message and "and 490 more" in message
    assert len(message) <= 2000


def test_unicode_is_escaped_so_the_message_stays_small_on_the_wire() -> None:
    # gRPC percent-encodes each non-ASCII byte of a status message: 3 wire bytes per byte.
    with pytest.raises(MetadataError) as caught:
        parse_metadata("so", "ns", {"model": "m", "\U0001f600" * 5000: "v"})
    message = str(caught.value)
    assert message.isascii() and "\\U0001f600" in message and len(message) < 1000


@pytest.mark.parametrize(
    ("name", "namespace", "field"),
    [
        ("n" * 254, "serving", "'name'"),
        ("chat", "s" * 64, "'namespace'"),
        ("n" * 1_000_000, "serving", "'name'"),
    ],
    ids=["name-254", "namespace-64", "name-1MB"],
)
def test_reference_names_past_kubernetes_limits_name_the_field(
    name: str, namespace: str, field: str
) -> None:
    """Kubernetes itself allows 253 (a DNS subdomain) and 63 (a DNS label): longer ones are
    not a ScaledObject's, and would be kept per ScaledObject and exported in /metrics."""
    with pytest.raises(MetadataError) as caught:
        parse_metadata(name, namespace, {"model": "llama", "namespace": "serving"})
    assert field in str(caught.value) and len(str(caught.value)) < 4096


def test_reference_names_at_kubernetes_limits_parse() -> None:
    target = parse_metadata("n" * 253, "s" * 63, {"model": "llama"})
    assert target.scaled_object == "s" * 63 + "/" + "n" * 253
