"""Scoring forecasters on a demand series: rolling-origin backtests (online and offline).

Online, the operators' API (`POST .../backtest`) scores a model's own Prometheus history
with this core; offline, `prewarm backtest` and `prewarm tune --objective forecast-error`
add trace files, plots and the tuning grid from simulations/backtest and simulations/tune.
"""
