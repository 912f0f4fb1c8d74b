"""`prewarm serve --config`: the example loads; bad files name what is wrong."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from autoscaler.profile import ProfileError
from autoscaler.serve_config import ServeConfig, load_serve_config

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "prewarm.yaml"


def test_the_shipped_example_loads_with_its_profiles() -> None:
    config, profiles = load_serve_config(EXAMPLE)
    assert config.grpc.port == 9090 and config.http.port == 8080
    assert set(profiles) == {"default", "llama-3.1-405b"}
    assert profiles["default"].capacity.prompt_tokens_per_s > 0
    assert config.refits.workers == 1 and config.refits.every_s == 60


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("grpc: {prot: 1}\n", "grpc.prot: unknown key"),
        ("grpc: {port: 70000}\n", "grpc.port"),
        ("log_level: loud\n", "log_level"),
        ("profiles: {default: missing.yaml}\n", "missing.yaml: profile file not found"),
        ("grpc: [\n", "not valid YAML"),
        ("refits: {workers: -1}\n", "refits.workers"),
        ("refits: {every_s: 0}\n", "refits.every_s"),
        ("idle_after_s: 30\n", "idle_after_s.*300"),
        ("prometheus: {url: 'http://prom:99999'}\n", "prometheus.url: .*port"),
        (
            "prometheus: {allowed_addresses: ['http://ok:9090', 'http://[::1']}\n",
            "prometheus.allowed_addresses.1: .*brackets",
        ),
        ("prometheus: {allowed_addresses: http://ok:9090}\n", "prometheus.allowed_addresses"),
    ],
    ids=[
        "unknown-key",
        "bad-port",
        "bad-level",
        "missing-profile",
        "bad-yaml",
        "bad-workers",
        "bad-refit-cadence",
        "idle-shorter-than-keda-polls",
        "bad-prometheus-url",
        "bad-allowed-address",
        "allowed-addresses-not-a-list",
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "prewarm.yaml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=words.replace("[", r"\[")):
        load_serve_config(path)


def test_a_directory_given_as_config_is_named(tmp_path: Path) -> None:
    with pytest.raises(ProfileError, match=f"{tmp_path}: cannot read"):
        load_serve_config(tmp_path)


def test_profile_paths_are_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "m.yaml").write_text(
        EXAMPLE.with_name("llama-3.1-8b.yaml").read_text()
    )
    (tmp_path / "prewarm.yaml").write_text("profiles: {m: profiles/m.yaml}\n")
    _, profiles = load_serve_config(tmp_path / "prewarm.yaml")
    assert profiles["m"].model == "llama-3.1-8b-instruct"


def test_check_validates_without_serving(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from prewarm_cli.main import app

    result = CliRunner().invoke(app, ["serve", "--config", str(EXAMPLE), "--check"])
    assert result.exit_code == 0, result.output
    assert "ok:" in result.output
    assert "profile default: model" in result.output and "profile llama-3.1-405b" in result.output

    bad = tmp_path / "prewarm.yaml"
    bad.write_text("grpc: {prot: 1}\n")
    result = CliRunner().invoke(app, ["serve", "--config", str(bad), "--check"])
    assert result.exit_code == 2 and "grpc.prot: unknown key" in result.output


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (bytes(range(256)), "not UTF-8 text"),
        ("grpc: {port: 1}\n".encode("utf-16"), "not UTF-8 text"),
        (("grpc: " + "[" * 5000 + "]" * 5000).encode(), "not valid YAML: nested too deeply"),
    ],
    ids=["binary", "utf-16", "deeply-nested"],
)
def test_an_unreadable_config_is_a_profile_error_naming_it(
    tmp_path: Path, content: bytes, words: str
) -> None:
    # `serve` turns a ProfileError into exit 2; anything else was a traceback (and a 500 on
    # /profiles/reload, which re-reads the config).
    path = tmp_path / "prewarm.yaml"
    path.write_bytes(content)
    with pytest.raises(ProfileError, match=f"{path}: {words}"):
        load_serve_config(path)


def test_allowed_prometheus_addresses_are_read(tmp_path: Path) -> None:
    path = tmp_path / "prewarm.yaml"
    path.write_text(
        "prometheus:\n"
        "  url: http://prom.monitoring:9090\n"
        "  allowed_addresses: [http://thanos.monitoring:10902, https://prom.eu.example/]\n"
    )
    config, _ = load_serve_config(path)
    assert config.prometheus.allowed_addresses == (
        "http://thanos.monitoring:10902",
        "https://prom.eu.example/",
    )
    assert ServeConfig().prometheus.allowed_addresses == ()  # none besides prometheus.url


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key a serve config may have, dotted (`prometheus.allowed_addresses`)."""
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        inner = field.annotation
        for candidate in (inner, *typing.get_args(inner)):
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                keys += _keys(candidate, f"{prefix}{name}.")
    return keys


def test_the_shipped_example_documents_every_key() -> None:
    """Each key appears, set or commented out, within its top-level section's lines."""
    sections: dict[str, str] = {}
    for block in re.split(r"(?m)^(?=#? ?[a-z_]+:)", EXAMPLE.read_text()):
        name = re.match(r"#? ?([a-z_]+):", block)
        if name:
            sections[name.group(1)] = block
    undocumented = [
        key
        for key in _keys(ServeConfig)
        if not re.search(rf"(?m)^[ #]*{key.split('.')[-1]}:", sections.get(key.split(".")[0], ""))
    ]
    assert undocumented == []


def test_max_scaled_objects_defaults_to_the_sized_bound_and_must_be_positive(
    tmp_path: Path,
) -> None:
    config, _ = load_serve_config(EXAMPLE)
    assert config.max_scaled_objects == ServeConfig().max_scaled_objects == 2000
    bad = tmp_path / "prewarm.yaml"
    bad.write_text("max_scaled_objects: 0\n")
    with pytest.raises(ProfileError, match="max_scaled_objects"):
        load_serve_config(bad)


@pytest.mark.parametrize(
    ("peers", "key"),
    [
        ({"dns": "prewarm-peers"}, "peers.dns"),  # no port
        ({"urls": ["prewarm-0:8080"]}, "peers.urls"),  # no scheme
        ({"urls": ["http://a:8080/peers"]}, "peers.urls"),  # a path: the report path is ours
        ({"urls": ["http://prewarm-0:http"]}, "peers.urls"),  # a named port: httpx cannot
        ({"every_s": 0}, "peers.every_s"),
    ],
    ids=["dns-without-port", "url-without-scheme", "url-with-path", "named-port", "zero-interval"],
)
def test_bad_peers_are_named(tmp_path: Path, peers: dict[str, object], key: str) -> None:
    bad = tmp_path / "prewarm.yaml"
    bad.write_text(yaml.safe_dump({"peers": peers}))
    with pytest.raises(ProfileError, match=re.escape(key)):
        load_serve_config(bad)


def test_the_shipped_config_finds_its_peers_through_the_headless_service() -> None:
    config, _ = load_serve_config(EXAMPLE)
    assert (
        config.peers.enabled and config.peers.dns == "prewarm-peers.prewarm.svc.cluster.local:8080"
    )
    assert config.peers.every_s < 15.0, "peers are heard within one default decision interval"
