"""`prewarm tune`: search a model's profile on its own history.

forecast_error ranks forecaster settings by the backtest's cost-weighted forecast error.
"""
