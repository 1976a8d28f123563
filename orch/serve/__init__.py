"""orch as a service. `orch serve`: graphs as OpenAI-compatible models — `protocol` reads requests
and writes replies, `app` is the HTTP face (Starlette), `server` binds and runs it (uvicorn).
LangGraph's server: `langgraph_app` builds the graphs `langgraph.json` registers, `served_graph`
wraps a graph with an item in and a result out."""
