"""A finished sweep as numbers: its points, each family's frontier per trace, the oracle's
reference point and what each family needs to reach predictive's SLO attainment.

References are the profile as given: the oracle's point sets "GPU-h vs oracle", and
predictive's point is the attainment the other families are asked to reach ("at the
bundled defaults", as issue 17's acceptance puts it).
"""

from __future__ import annotations

from dataclasses import dataclass

from simulations.sweep.frontier import Needed, gpu_hours_to_reach, pareto_front
from simulations.sweep.plan import SweepPoint, SweepTrace
from simulations.sweep.run import SweepOutcome
from simulations.sweep.tasks import PointResult

REFERENCE_FAMILY = "predictive"
ORACLE_FAMILY = "oracle"


@dataclass(frozen=True)
class SweepRow:
    point: SweepPoint
    result: PointResult

    @property
    def gpu_hours(self) -> float:
        return float(self.result.metrics["gpu_hours"])

    @property
    def slo_attainment(self) -> float:
        return float(self.result.metrics["slo_attainment"])


@dataclass(frozen=True)
class TraceResults:
    trace: SweepTrace
    rows: dict[str, list[SweepRow]]  # family -> its points, by GPU-hours
    fronts: dict[str, list[SweepRow]]  # family -> its frontier, by GPU-hours
    oracle: SweepRow | None  # the oracle at the profile as given
    reference: SweepRow | None  # predictive at the profile as given
    needed: dict[str, Needed]  # family (not predictive) -> GPU-h for predictive's attainment

    def vs_oracle(self, row: SweepRow) -> float | None:
        if self.oracle is None or not self.oracle.gpu_hours:
            return None
        return row.gpu_hours / self.oracle.gpu_hours

    def on_front(self, row: SweepRow) -> bool:
        return any(row.point.key == other.point.key for other in self.fronts[row.point.family])


def _at_profile(rows: list[SweepRow]) -> SweepRow | None:
    return next((row for row in rows if row.point.at_profile), None)


def collect(outcome: SweepOutcome) -> list[TraceResults]:
    """Per trace, in the plan's order; families in --policies order."""
    plan = outcome.plan
    per_trace = []
    for trace in plan.traces:
        rows: dict[str, list[SweepRow]] = {}
        for family in plan.families:
            found = [
                SweepRow(point, outcome.results[point.key])
                for point in plan.points
                if point.trace == trace.label and point.family == family
            ]
            rows[family] = sorted(found, key=lambda r: (r.gpu_hours, -r.slo_attainment))
        fronts = {family: pareto_front(found) for family, found in rows.items()}
        reference = _at_profile(rows.get(REFERENCE_FAMILY, []))
        needed = {}
        if reference is not None:
            for family, front in fronts.items():
                if family != REFERENCE_FAMILY:
                    needed[family] = gpu_hours_to_reach(front, reference.slo_attainment)
        per_trace.append(
            TraceResults(
                trace=trace,
                rows=rows,
                fronts=fronts,
                oracle=_at_profile(rows.get(ORACLE_FAMILY, [])),
                reference=reference,
                needed=needed,
            )
        )
    return per_trace
