"""What orch ships for tests, notebooks and benchmarks, never for answering questions:
deterministic fake chat models (`fakes`) and a loopback OpenAI-compatible endpoint with fixed
latencies and injected faults (`endpoint`)."""

from orch.testing.fakes import Script, ScriptedChatModel, schema_enum

__all__ = ["Script", "ScriptedChatModel", "schema_enum"]
