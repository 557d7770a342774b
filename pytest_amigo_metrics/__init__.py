"""pytest-amigo-metrics: conversation-quality tests for LLM agents, declared in YAML."""

__version__ = "0.1.0"
