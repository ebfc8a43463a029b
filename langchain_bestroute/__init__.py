"""LangChain adapter for bestroute."""
