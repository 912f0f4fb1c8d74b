"""A kubernetes-asyncio ApiClient for the long-running adapters (the placement loop, the
webhook's ConfigMap watch): in-cluster credentials when the pod has a service account,
else a kubeconfig (`kubeconfig`, $KUBECONFIG, ~/.kube/config)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


async def client_configuration(
    kubeconfig: Path | None = None, context: str | None = None
) -> Configuration:
    """Raises kubernetes_asyncio.config.ConfigException when there is none to be had."""
    client_config = Configuration()
    if kubeconfig is None and SERVICE_ACCOUNT_TOKEN.exists():
        # Re-reads the token file as the kubelet rotates it (bound service account tokens).
        config.load_incluster_config(client_configuration=client_config)
    else:
        await config.load_kube_config(
            config_file=str(kubeconfig) if kubeconfig else None,
            context=context,
            client_configuration=client_config,
        )
    return client_config


@asynccontextmanager
async def api_client(
    kubeconfig: Path | None = None, context: str | None = None
) -> AsyncIterator[ApiClient]:
    configuration = await client_configuration(kubeconfig, context)
    async with ApiClient(configuration=configuration) as api:
        yield api
