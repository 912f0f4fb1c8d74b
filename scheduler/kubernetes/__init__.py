"""The Kubernetes side of placement: DRA claim templates and placement patches rendered from a
Plan, the admission webhook that applies them to vLLM pods, and the inventory reader.

Kubernetes I/O lives in `inventory_reader.py` (list calls), `serve_webhook.py` (the TLS
server) and the controller loop's adapters: `informer.py` and `inventory_watch.py` (list then
watch), `ssa_writer.py` and `diff_writer.py` (server-side apply), `leader_election.py` (a
Lease) and `events.py`, all over `api_calls.py`; the loop itself (`controller_loop.py`, with
`controller_metrics.py`, `placement_events.py` and `dcgm_feed.py`, which reads Prometheus), the
webhook's ConfigMap watch (`configmap_plan_store.py`) and `api_client.py`. Everything else is
pure and works on plain dicts and frozen dataclasses.
"""
