"""An in-process Kubernetes API server for adapter tests: real HTTP on loopback, the real URL
layout, list and watch with resourceVersions, bookmarks and 410 Gone, optimistic concurrency,
server-side apply with field managers and conflicts, and schema validation from
kubernetes-validate. The real API server cannot run here; this one is built once and shared.
"""

from tests.kube_api_server.server import ApiServer, serve_api

__all__ = ["ApiServer", "serve_api"]
