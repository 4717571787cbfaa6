"""Orchestration of invq's benchmark suite (driven by bench/run)."""
