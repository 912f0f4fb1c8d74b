"""The placement controller's pure decision core: one reconcile turn from the last plan, the
watched inventory, the scaler's demand and DCGM health to a plan and the objects to write.
No I/O here; the loop (scheduler/kubernetes) feeds it and applies its diff."""

from scheduler.controller.reconcile import HealthReport, ReconcileResult, reconcile

__all__ = ["HealthReport", "ReconcileResult", "reconcile"]
