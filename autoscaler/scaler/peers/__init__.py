"""Two or more Prewarm replicas giving KEDA one answer (see agreement.py for why and how)."""
