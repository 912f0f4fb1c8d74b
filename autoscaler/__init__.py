"""Prewarm: predictive autoscaling for LLM inference."""
