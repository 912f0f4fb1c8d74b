"""The Kubernetes side of placement: DRA claim templates and placement patches rendered from a
Plan, the admission webhook that applies them to vLLM pods, and the inventory reader.

Kubernetes I/O lives only in `inventory_reader.py` (list calls) and `serve_webhook.py` (the
TLS server); everything else is pure and works on plain dicts and frozen dataclasses.
"""
