"""Prewarm's offline tools: trace formats, the fleet model, replay, backtest inputs, tune,
sweep and reports. Replays run the same decision code as production (autoscaler/).
"""
