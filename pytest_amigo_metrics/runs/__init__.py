"""Runs: the session's scheduler and limits, one conversation, the simulated user, capture."""
