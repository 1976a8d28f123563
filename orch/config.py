"""The agent pool: which models exist, where they are served, what they cost.

A pool config is YAML validated by `PoolConfig`. The embedded default (`orch/pool.yaml`) serves
local GGUF models through llama.cpp servers that orch starts itself; any OpenAI-compatible
endpoint works by giving an agent a `base_url` instead of `local`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orch.errors import ConfigError, did_you_mean
from orch.settings import get_settings
from orch.yamlio import load_model, load_yaml_mapping

__all__ = [
    "DEFAULT_POOL_PATH",
    "ENV_NAME",
    "AgentConfig",
    "LocalServersConfig",
    "PoolConfig",
    "load_pool_config",
    "pool_fingerprint",
]

DEFAULT_POOL_PATH = Path(__file__).with_name("pool.yaml")

_AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

_KEY_LIKE_PART = r"(?:^|_)(?=[A-Za-z0-9]*[0-9])[A-Za-z0-9]{16,}(?:_|$)"
"""A run of 16+ letters and digits (with a digit) between underscores: how keys made only of word
characters look (`gsk_…`, `hf_…`, `sk_live_…`, 32 hex digits, `AKIA…`), and how no variable name does."""

ENV_NAME = re.compile(rf"^(?!.*{_KEY_LIKE_PART})[A-Za-z_][A-Za-z0-9_]*$")
"""What an environment variable's name looks like; anything else in `api_key_env` is likely a pasted key.
A key can be a legal name too, so a name with a key-like part is refused: otherwise it would be echoed
by "environment variable … is not set"."""


class AgentConfig(BaseModel):
    """One model the pool can call."""

    # hide_input_in_errors: a key pasted into api_key_env must not reach a ValidationError's text
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    id: str = Field(pattern=_AGENT_ID)
    """Name used in specs, tables and MLflow; analyses are ordered by it before merging."""
    model: str
    """Model name sent in each request (llama.cpp ignores it and answers with what it loaded)."""
    base_url: str | None = None
    """OpenAI-compatible endpoint, e.g. `https://api.openai.com/v1`. Exclusive with `local`."""
    local: str | None = None
    """Catalog name (`orch models list`) or path to a `.gguf` file; orch starts a llama.cpp server."""
    api_key_env: str | None = None
    """Name of the environment variable holding the API key. The key itself is never stored."""
    price_input_per_mtok: float = Field(0.0, ge=0)
    """Cost in USD per million prompt tokens."""
    price_output_per_mtok: float = Field(0.0, ge=0)
    """Cost in USD per million completion tokens."""
    max_tokens: int = Field(512, gt=0)
    """Upper bound on completion tokens for any call; nodes ask for less when they can."""
    timeout_s: float = Field(300.0, gt=0)
    """Per-request timeout. Local CPU models are slow: a 1.5B model writes ~13 tokens/s."""
    max_retries: int = Field(2, ge=0)
    """Retries on timeouts, dropped connections, 429 (waiting its Retry-After), 5xx and malformed
    replies, with exponential backoff and jitter (never on unreadable text in a good reply)."""
    circuit_failures: int = Field(5, ge=1)
    """Consecutive failed calls (each after its retries) that open the agent's circuit breaker."""
    circuit_cooldown_s: float = Field(30.0, gt=0)
    """How long an open circuit refuses calls before one trial call goes through."""
    structured_output: Literal["json_schema", "none"] = "json_schema"
    """`json_schema` sends a response_format schema (grammar-enforced by llama.cpp);
    `none` asks for JSON in the prompt only, for endpoints that reject response_format."""
    extra_body: dict[str, object] = Field(default_factory=dict)
    """Extra JSON fields for every request (e.g. llama.cpp's `cache_prompt`)."""
    logprobs: bool = True
    """Ask for the answer token's log-probabilities (`logprobs`, `top_logprobs`) in the calls that
    choose an option, so a decision can weigh each agent's distribution over the options (llama.cpp
    and OpenAI return them; false for endpoints that reject the fields)."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """Catch `base_url: api.openai.com` here, not as a connection error on every call."""
        try:
            parts = urlsplit(value) if value is not None else None
        except ValueError:  # e.g. an unclosed IPv6 bracket
            parts = None
        if value is not None and (parts is None or parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://api.openai.com/v1")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        """The field names a variable; a value that is not a name is likely the key itself, never echoed."""
        if value is not None and not ENV_NAME.match(value):
            raise ValueError(
                "must name an environment variable (it looks like a key itself; the value is not shown)"
                if value
                else "must name an environment variable (leave it out for an endpoint without a key)"
            )
        return value

    @model_validator(mode="after")
    def _one_endpoint(self) -> AgentConfig:
        if (self.base_url is None) == (self.local is None):
            raise ValueError("give exactly one of base_url (a remote endpoint) or local (a GGUF model)")
        return self

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.price_input_per_mtok + output_tokens * self.price_output_per_mtok) / 1e6


class LocalServersConfig(BaseModel):
    """How orch runs its own llama.cpp servers (one per local model)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    concurrency: int = Field(1, ge=1)
    """Requests in flight across all local servers: they share the CPU, and parallel requests
    thrash (measured: 47.6 s at once vs 32.0 s one after another for three servers)."""
    threads: int = Field(2, ge=1)
    ctx: int = Field(4096, ge=512)
    bit_identical: bool = True
    """Send `cache_prompt: false`, so temperature 0 gives the same text whatever the cache holds."""
    startup_timeout_s: float = Field(120.0, gt=0)


class PoolConfig(BaseModel):
    """Agents plus who analyses and who merges by default."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)  # as in AgentConfig

    seed: int = 1234
    """Sent with every request; backends that honour it (llama.cpp does) become repeatable."""
    temperature: float = Field(0.0, ge=0)
    agents: tuple[AgentConfig, ...] = Field(min_length=1)
    """Declaration order is the fixed priority order used by tie-breaks."""
    panel: tuple[str, ...] = ()
    """Default analysts (agent ids); empty means every agent."""
    roles: dict[str, str] = Field(default_factory=dict)
    """Named roles such as `merger`, each an agent id (a spec may name roles of its own)."""
    local: LocalServersConfig = LocalServersConfig()
    remote_concurrency: int = Field(8, ge=1)
    """Requests in flight per remote `base_url`."""

    @model_validator(mode="after")
    def _references(self) -> PoolConfig:
        ids = [a.id for a in self.agents]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f"agents: duplicate agent id {dup!r}")
        for agent_id in self.panel:
            if agent_id not in ids:
                raise ValueError(f"panel: unknown agent {agent_id!r}.{did_you_mean(agent_id, ids)} Agents: {ids}")
        for role, agent_id in self.roles.items():
            if agent_id not in ids:
                raise ValueError(
                    f"roles.{role}: unknown agent {agent_id!r}.{did_you_mean(agent_id, ids)} Agents: {ids}"
                )
        return self

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.agents)

    @property
    def default_panel(self) -> tuple[str, ...]:
        return self.panel or self.agent_ids

    def agent(self, agent_id: str) -> AgentConfig:
        for a in self.agents:
            if a.id == agent_id:
                return a
        raise ConfigError("pool", "agents", f"unknown agent {agent_id!r}.{did_you_mean(agent_id, self.agent_ids)}")

    def role(self, name: str) -> str:
        """The agent id for a role; the first agent in priority order when the role is unset."""
        return self.roles.get(name, self.agent_ids[0])

    def default_roles(self) -> dict[str, str]:
        """The roles every graph has on this pool: `merger` (the first agent unless set) and the pool's own."""
        return {"merger": self.role("merger"), **self.roles}


def pool_fingerprint(config: PoolConfig, path: Path | None = None) -> str:
    """sha256 of the pool file's bytes (or of the config's JSON when it came from code): runs and
    evaluations record it, and finished results are only reused under the same one."""
    data = path.read_bytes() if path is not None else config.model_dump_json().encode()
    return hashlib.sha256(data).hexdigest()


def load_pool_config(path: Path | None = None) -> tuple[PoolConfig, Path]:
    """Load the pool from `path`, `ORCH_CONFIG`, or the embedded default, in that order."""
    path = path or get_settings().config or DEFAULT_POOL_PATH
    return load_model(PoolConfig, load_yaml_mapping(path, ConfigError), path, ConfigError), path
