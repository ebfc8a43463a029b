"""LlamaIndex adapter for bestroute."""
