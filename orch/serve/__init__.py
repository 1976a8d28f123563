"""`orch serve`: graphs as OpenAI-compatible models. `protocol` reads requests and writes replies,
`app` is the HTTP face (Starlette), `server` binds and runs it (uvicorn)."""
