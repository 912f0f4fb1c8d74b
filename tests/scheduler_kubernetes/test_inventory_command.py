"""`prewarm inventory` end to end: a kubeconfig pointing at a loopback HTTP server that serves
the recorded API responses; the YAML it writes is what `prewarm place` accepts."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from typer.testing import CliRunner

from prewarm_cli.main import app
from scheduler.inventory import load_inventory
from tests.scheduler_kubernetes.test_inventory_reader import TOKEN, fake_api_server

RUNNER = CliRunner()


@pytest.fixture
def api_url() -> Iterator[str]:
    """The recorded API server on its own loop and thread: the CLI runs asyncio.run itself."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    holder: dict[str, object] = {}

    async def start() -> None:
        runner = web.AppRunner(fake_api_server([]))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        holder["runner"] = runner
        holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop)
    assert started.wait(10)
    yield f"http://127.0.0.1:{holder['port']}"
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)  # type: ignore[attr-defined]
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def kubeconfig(path: Path, server: str, token: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "rec", "cluster": {"server": server}}],
                "users": [{"name": "sa", "user": {"token": token}}],
                "contexts": [{"name": "rec", "context": {"cluster": "rec", "user": "sa"}}],
                "current-context": "rec",
            }
        )
    )
    return path


def test_inventory_from_the_cluster_feeds_place(api_url: str, tmp_path: Path) -> None:
    types = tmp_path / "types.yaml"
    types.write_text(
        "instance_types:\n"
        "  - {name: p5.48xlarge, zone: us-east-1a, gpu_model: H100-80GB, gpus: 8,"
        " price_per_hour: 98.32, available: 2}\n"
    )
    out = tmp_path / "inventory.yaml"
    result = RUNNER.invoke(
        app,
        [
            "inventory",
            "--kubeconfig",
            str(kubeconfig(tmp_path / "kubeconfig", api_url, TOKEN)),
            "--instance-types",
            str(types),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    inventory = load_inventory(out)  # what `prewarm place --inventory` reads
    assert inventory.nodes and any(g.model == "H100-80GB" for n in inventory.nodes for g in n.gpus)
    assert [t.name for t in inventory.instance_types] == ["p5.48xlarge"]
    assert "GPU node(s)" in result.output


def test_a_rejected_token_is_a_clear_error(api_url: str, tmp_path: Path) -> None:
    result = RUNNER.invoke(
        app,
        ["inventory", "--kubeconfig", str(kubeconfig(tmp_path / "kc", api_url, "wrong"))],
    )
    assert result.exit_code == 1
    assert "reading the cluster failed" in result.output and "401" in result.output


def test_bad_instance_types_file_exits_2(tmp_path: Path) -> None:
    types = tmp_path / "types.yaml"
    types.write_text("nodes: []\n")
    result = RUNNER.invoke(app, ["inventory", "--instance-types", str(types)])
    assert result.exit_code == 2 and "instance_types" in result.output


def test_a_missing_kubeconfig_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    # typer boxes usage errors at the terminal's width: wide enough to keep the path whole
    result = RUNNER.invoke(app, ["inventory", "--kubeconfig", str(missing)], env={"COLUMNS": "300"})
    assert result.exit_code == 2 and "nope" in result.output and "does not exist" in result.output


def test_an_unknown_context_is_bad_input_naming_it(api_url: str, tmp_path: Path) -> None:
    config = kubeconfig(tmp_path / "kc", api_url, TOKEN)
    result = RUNNER.invoke(app, ["inventory", "--kubeconfig", str(config), "--context", "prod"])
    assert result.exit_code == 2 and "kubeconfig" in result.output and "prod" in result.output


def test_a_bad_instance_type_is_blamed_on_its_file_before_the_cluster_is_read(
    tmp_path: Path,
) -> None:
    types = tmp_path / "types.yaml"
    types.write_text(
        "instance_types:\n  - {name: p5, gpu_model: H100-80GB, gpus: 8, cost_per_hour: 98,"
        " zones: {a: 1}}\n"
    )
    # no kubeconfig at all: reaching the cluster would fail with a different error
    result = RUNNER.invoke(app, ["inventory", "--instance-types", str(types)])
    assert result.exit_code == 2
    assert str(types) in result.output and "cost_per_hour" in result.output
    assert "cluster" not in result.output


def test_no_kubeconfig_anywhere_says_so_instead_of_calling_it_invalid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubernetes_asyncio import config

    absent = tmp_path / ".kube" / "config"
    monkeypatch.setattr(config, "KUBE_CONFIG_DEFAULT_LOCATION", str(absent))
    result = RUNNER.invoke(app, ["inventory"], env={"COLUMNS": "300"})
    assert result.exit_code == 2, result.output
    assert f"no kubeconfig at {absent}" in result.output and "--kubeconfig" in result.output
    assert "Invalid kube-config" not in result.output


def test_an_inventory_place_could_not_read_is_refused_not_written(
    api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`place` reads YAML up to MAX_YAML_BYTES; `inventory` must not write a bigger file
    (100,000 GPUs with MIG instances are over it). The limit is shrunk to the recorded
    cluster's size so the test stays small."""
    import autoscaler.yaml_files

    monkeypatch.setattr(autoscaler.yaml_files, "MAX_YAML_BYTES", 200)
    out = tmp_path / "inventory.yaml"
    result = RUNNER.invoke(
        app,
        [
            "inventory",
            "--kubeconfig",
            str(kubeconfig(tmp_path / "kubeconfig", api_url, TOKEN)),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "MAX_YAML_BYTES" in result.output and "prewarm place" in result.output
    assert not out.exists()
