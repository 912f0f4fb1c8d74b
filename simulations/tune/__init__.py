"""`prewarm tune`: search a model's profile on its own history.

By replay (the default with a trace or Prometheus history): search_space (the axes and
their bounds), candidate (a point as a profile, resolved as a sweep point is),
replay_search (Optuna's constrained search, batches through the sweep's executors and
cache), report (frontier, evidence, tune.json), profile_writer (profile.yaml, checked to
load as the replayed profile), prometheus_history (a model's Prometheus history as a rate
series). forecast_error ranks forecaster settings by the backtest's cost-weighted forecast
error.
"""
