"""Prewarm's online path: observations, window, forecasters, planner, stabiliser, engine,
profile, clock, and the faces KEDA and operators call (gRPC scaler, HTTP API).

Imports nothing offline: simulations/, scheduler/ and prewarm_cli/ build on this package,
never the reverse (pyproject's [tool.importlinter] contract, tests/layering).
"""
