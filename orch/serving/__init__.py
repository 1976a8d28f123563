"""orch on existing servers: LangGraph's server (`langgraph.json`, `orch.serving.langgraph_app`)."""
