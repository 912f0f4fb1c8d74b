"""Running the placement webhook: uvicorn with TLS (the API server calls webhooks over HTTPS only).

    prewarm webhook --plan /etc/prewarm-placement/plan.json \\
        --cert-file /tls/tls.crt --key-file /tls/tls.key --port 8443
    prewarm webhook --plan-configmaps llm-serving --cert-file ... --key-file ...

With `--plan` it serves a plan file (`prewarm place`'s plan.json, usually a mounted
ConfigMap); with `--plan-configmaps NAMESPACE` it watches the placement controller's
per-model ConfigMaps in that namespace through the API (configmap_plan_store.py).

The certificate is re-read when its files change (scheduler/kubernetes/reloading_tls.py).
"""

from __future__ import annotations

import asyncio
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from autoscaler.clock import Clock
from scheduler.kubernetes.plan_file import PlanFileError, load_plan
from scheduler.kubernetes.plan_store import PlanSource, PlanStore
from scheduler.kubernetes.reloading_tls import ReloadingServerContext
from scheduler.kubernetes.webhook import build_webhook_app


@dataclass(frozen=True)
class WebhookServer:
    plan_path: Path | None  # file mode; None: `store` (ConfigMap mode) must be given
    cert_file: Path | None  # None only for tests and local debugging: the API server needs TLS
    key_file: Path | None
    host: str = "0.0.0.0"
    port: int = 8443
    watch_interval_s: float = 2.0
    store: PlanSource | None = None
    clock: Clock | None = None  # what the plan file's watcher sleeps on (None: the wall's)

    def plan_source(self) -> PlanSource:
        if self.store is not None:
            return self.store
        if self.plan_path is None:
            raise ValueError("give a plan file or a ConfigMap store")
        return PlanStore(self.plan_path, self.clock)

    def uvicorn_server(self) -> uvicorn.Server:
        app = build_webhook_app(self.plan_source(), watch_interval_s=self.watch_interval_s)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            ssl_certfile=str(self.cert_file) if self.cert_file else None,
            ssl_keyfile=str(self.key_file) if self.key_file else None,
            log_level="warning",
            lifespan="on",
            # The API server keeps connections open; do not let them hold a restart.
            timeout_graceful_shutdown=5,
        )
        if self.cert_file and self.key_file:
            # uvicorn loads its certificate once; swap in a context that follows the files,
            # so a cert-manager renewal is served without a restart.
            config.load()
            config.ssl = ReloadingServerContext(self.cert_file, self.key_file).context
        return uvicorn.Server(config)

    async def run(self, stop: asyncio.Event) -> None:
        server = self.uvicorn_server()
        task = asyncio.create_task(server.serve())
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        server.should_exit = True
        stopped.cancel()
        await task


def main(
    cert_file: Annotated[Path, typer.Option(exists=True, dir_okay=False)],
    key_file: Annotated[Path, typer.Option(exists=True, dir_okay=False)],
    plan: Annotated[
        Path | None, typer.Option(help="plan.json written by `prewarm place` (file mode)")
    ] = None,
    plan_configmaps: Annotated[
        str | None,
        typer.Option(
            metavar="NAMESPACE",
            help="watch the placement controller's ConfigMaps in this namespace instead of "
            "a file (in-cluster credentials, else --kubeconfig)",
        ),
    ] = None,
    kubeconfig: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="--plan-configmaps only")
    ] = None,
    host: str = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8443,
    watch_interval_s: Annotated[float, typer.Option(min=0.1)] = 2.0,
    log_level: str = "info",
) -> None:
    """Serve the placement webhook (POST /mutate, GET /healthz) over HTTPS."""
    from kubernetes_asyncio.config import ConfigException
    from rich.console import Console

    from autoscaler import logs
    from scheduler.kubernetes.api_client import api_client, client_configuration
    from scheduler.kubernetes.configmap_plan_store import ConfigMapPlanStore

    console = Console(stderr=True)
    if (plan is None) == (plan_configmaps is None):
        console.print("[red]error:[/red] give exactly one of --plan FILE or --plan-configmaps NS")
        raise typer.Exit(2)
    try:
        ReloadingServerContext(cert_file, key_file)  # a bad pair is bad input, not a traceback
        # A plan that cannot be read at start is a wrong --plan, not a reload to wait out: a
        # webhook serving no plan admits every pod unpatched while /healthz says ok. (A later
        # bad reload keeps the plan in force; see plan_store.py.)
        if plan is not None:
            load_plan(plan)
        else:  # credentials now, not a watch failing in the background for ever
            asyncio.run(client_configuration(kubeconfig))
    except (ValueError, PlanFileError, ConfigException) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    logs.configure(log_level)
    store = None
    if plan_configmaps is not None:
        store = ConfigMapPlanStore(lambda: api_client(kubeconfig), plan_configmaps)
    server = WebhookServer(plan, cert_file, key_file, host, port, watch_interval_s, store)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await server.run(stop)

    asyncio.run(run())


if __name__ == "__main__":
    typer.run(main)
