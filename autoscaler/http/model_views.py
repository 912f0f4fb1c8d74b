"""What the operators' API shows about one model, as plain JSON-ready values and a PNG.

Pure functions of the engine's window and forecasts, so they are tested without a server.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

from autoscaler.forecast.forecast import Forecast
from autoscaler.scaler.tracked import Tracked
from autoscaler.window import SERIES


def summary(tracked: Tracked, profile_name: str | None) -> dict[str, Any]:
    d = tracked.decision
    return {
        "scaled_object": tracked.target.scaled_object,
        "model": tracked.target.model,
        "namespace": tracked.target.namespace,
        "profile": profile_name,
        "replicas": d.replicas if d else None,
        "valid": d.valid if d else False,
        "reason": d.reason if d else "no decision yet",
        "forecast_replicas": d.forecast_replicas if d else None,
        "reactive_replicas": d.reactive_replicas if d else None,
        "data_age_s": _finite(d.data_age_s) if d else None,
        "source_error": tracked.last_error,
        "refresh_error": tracked.refresh_error,
    }


def history_payload(
    values: np.ndarray,
    end_s: float,
    bucket_s: float,
    forecasts: tuple[Forecast, Forecast] | None,
    since_s: float,
) -> dict[str, Any]:
    """History buckets overlapping [since_s, end_s] (NaN gaps become null) and the latest
    forecasts.

    Worked shape: 3 buckets of 60 s ending at 600 -> t_s [420, 480, 540] (bucket starts).
    """
    n = values.shape[1]
    starts_s = end_s - bucket_s * np.arange(n, 0, -1)
    keep = starts_s + bucket_s > since_s  # every bucket that overlaps the asked span
    history: dict[str, Any] = {"t_s": starts_s[keep].tolist()}
    for i, name in enumerate(SERIES):
        history[name] = [_finite(v) for v in values[i, keep]]
    out: dict[str, Any] = {"bucket_s": bucket_s, "end_s": end_s, "history": history}
    if forecasts is not None:
        prompt, generation = forecasts
        out["forecast"] = {
            "t_s": (prompt.start_s + prompt.step_s * np.arange(prompt.steps)).tolist(),
            "quantile": prompt.quantile,
            "method": prompt.method,
            "note": prompt.note,
            SERIES[0]: {"mean": prompt.mean.tolist(), "upper": prompt.upper.tolist()},
            SERIES[1]: {"mean": generation.mean.tolist(), "upper": generation.upper.tolist()},
        }
    else:
        out["forecast"] = None
    return out


def history_png(payload: dict[str, Any], title: str) -> bytes:
    """History and forecast (mean, shaded to the upper quantile) for both token series."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 5), dpi=100)
    axes = fig.subplots(2, 1, sharex=True)
    history, forecast = payload["history"], payload["forecast"]
    t0 = payload["end_s"]
    for ax, name in zip(axes, SERIES, strict=True):
        hours = (np.asarray(history["t_s"]) - t0) / 3600
        values = np.array([np.nan if v is None else v for v in history[name]], dtype=float)
        ax.plot(hours, values, color="tab:blue", lw=1, label="observed")
        if forecast is not None:
            f_hours = (np.asarray(forecast["t_s"]) - t0) / 3600
            ax.plot(f_hours, forecast[name]["mean"], color="tab:orange", lw=1.5, label="forecast")
            ax.fill_between(
                f_hours,
                forecast[name]["mean"],
                forecast[name]["upper"],
                color="tab:orange",
                alpha=0.25,
                label=f"to q{forecast['quantile']:.2f}",
            )
        ax.set_ylabel(name.replace("_", " "))
        ax.grid(alpha=0.3)
    axes[0].set_title(title)
    axes[0].legend(loc="upper left", fontsize=8)
    axes[1].set_xlabel("hours from now")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
