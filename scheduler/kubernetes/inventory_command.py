"""`prewarm inventory`: read the cluster's GPU nodes and ResourceSlices into the inventory YAML
that `prewarm place --inventory` takes.

The cluster knows its nodes, GPUs and MIG instances; it does not know what can still be
provisioned, so `instance_types` comes from a file the operator keeps (`--instance-types`),
or stays empty (then `place` can only use existing nodes).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape


async def _read(kubeconfig: Path | None, context: str | None) -> dict[str, Any]:
    from kubernetes_asyncio import config
    from kubernetes_asyncio.client import ApiClient, Configuration

    from scheduler.kubernetes.inventory_reader import read_inventory

    client_config = Configuration()
    if kubeconfig is None and _in_cluster():
        config.load_incluster_config(client_configuration=client_config)
    else:
        # The client reports a missing default file as an invalid one ("Expected key
        # current-context"); say what is actually missing.
        # KUBECONFIG, when set, may list several files.
        defaults = [
            Path(p).expanduser() for p in config.KUBE_CONFIG_DEFAULT_LOCATION.split(os.pathsep)
        ]
        if kubeconfig is None and not any(p.exists() for p in defaults):
            where = ", ".join(str(p) for p in defaults)
            raise config.ConfigException(
                f"not in a cluster and no kubeconfig at {where}; pass --kubeconfig"
            )
        await config.load_kube_config(
            config_file=str(kubeconfig) if kubeconfig else None,
            context=context,
            client_configuration=client_config,
        )
    async with ApiClient(configuration=client_config) as api:
        return await read_inventory(api)


def _in_cluster() -> bool:
    return Path("/var/run/secrets/kubernetes.io/serviceaccount/token").exists()


def inventory_command(
    kubeconfig: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="kubeconfig (default: in-cluster, else ~/.kube/config)",
        ),
    ] = None,
    context: Annotated[str | None, typer.Option(help="kubeconfig context")] = None,
    instance_types: Annotated[
        Path | None,
        typer.Option(help="YAML with `instance_types: [...]` to add (what can be provisioned)"),
    ] = None,
    out: Annotated[Path, typer.Option(help="inventory YAML to write")] = Path("out/inventory.yaml"),
) -> None:
    """Read the cluster's GPU inventory (Nodes, DRA ResourceSlices) for `prewarm place`."""
    from autoscaler.yaml_files import MAX_YAML_BYTES, YamlFileError, read_yaml_file
    from scheduler.input_errors import PlacementInputError
    from scheduler.inventory import inventory_from_dict

    console = Console(stderr=True)
    extra: dict[str, Any] = {}
    if instance_types is not None:
        try:
            extra = read_yaml_file(instance_types) or {}
        except YamlFileError as exc:  # names the file: missing, binary, a key given twice...
            console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        if not isinstance(extra, dict) or set(extra) - {"instance_types"}:
            console.print(
                f"[red]error:[/red] {instance_types}: expected only a top-level "
                "`instance_types:` list",
                highlight=False,
            )
            raise typer.Exit(2)
        try:  # checked before the cluster is read, and blamed on the file, not the cluster
            inventory_from_dict({"nodes": [], **extra}, str(instance_types))
        except PlacementInputError as exc:
            console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
    from kubernetes_asyncio.config import ConfigException

    try:
        inventory = asyncio.run(_read(kubeconfig, context))
    except ConfigException as exc:  # no usable kubeconfig or context: the user's input
        console.print(f"[red]error:[/red] kubeconfig: {exc}", highlight=False)
        raise typer.Exit(2) from None
    except Exception as exc:  # config, network or API errors: say which, never a traceback
        console.print(f"[red]error:[/red] reading the cluster failed: {exc}", highlight=False)
        raise typer.Exit(1) from None
    document = {**inventory, "instance_types": extra.get("instance_types") or []}
    try:
        checked = inventory_from_dict(document, "the cluster's inventory")
    except PlacementInputError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    text = yaml.safe_dump(document, sort_keys=False)
    gpus = sum(len(n.gpus) for n in checked.nodes)
    size = len(text.encode())
    if size > MAX_YAML_BYTES:  # `place` would refuse the file: say so now, write nothing
        console.print(
            f"[red]error:[/red] the inventory ({gpus:,} GPUs) is {size / 2**20:.1f} MiB as "
            f"YAML, over the {MAX_YAML_BYTES / 2**20:.0f} MiB that `prewarm place` reads "
            "(MAX_YAML_BYTES): place a part of the cluster at a time (a kubeconfig context "
            "per part)",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    console.print(f"{len(checked.nodes)} GPU node(s), {gpus} GPU(s) -> {out}", highlight=False)
