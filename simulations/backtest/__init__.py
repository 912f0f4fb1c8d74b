"""`prewarm backtest`'s offline inputs and outputs: trace files and rate series as demand
series (loaders, sources) and the forecast plots. The scoring itself is autoscaler/backtest.
"""
