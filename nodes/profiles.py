"""Reliability profiles: what a development split measured about each agent, stored as versioned
state so a weighted decision never uses weights it cannot name.

A profile holds each agent's accuracy (the share of its answers that were right) and its mean
distribution over option positions (its position prior, measured without gold labels), keyed by
the number of options. `orch profile fit` writes one from a finished evaluation; the `weigh` node
reads it by name (the newest version, or `name@vN`) or by path, and records which version decided.
Profiles you fit come first; orch ships the ones its default graphs need (`shipped_profiles/`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from orch.errors import ConfigError
from orch.settings import get_settings

__all__ = ["SHIPPED_DIR", "AgentReliability", "ReliabilityProfile", "load_profile", "profiles_dir", "save_profile"]


class AgentReliability(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    accuracy: float = Field(ge=0, le=1)
    """Share of the agent's answers that were right on the profile's items."""
    answered: int = Field(ge=0)
    """Items the agent answered (the accuracy's denominator)."""
    priors: dict[int, list[float]] = Field(default_factory=dict)
    """Per number of options: the agent's mean probability for each position (no gold used)."""


class ReliabilityProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    version: int = Field(ge=1)
    created_at: str
    source: dict[str, str]
    """Where it was measured: benchmark, sample, seed, system, evaluation key."""
    agents: dict[str, AgentReliability]

    @property
    def profile_hash(self) -> str:
        canonical = json.dumps(self.model_dump(mode="json", exclude={"created_at"}), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()[:12]

    @property
    def label(self) -> str:
        return f"{self.name}@v{self.version} ({self.profile_hash})"


SHIPPED_DIR = Path(__file__).parent / "shipped_profiles"
"""Profiles measured for the embedded pool and shipped with orch (the default graph's `mmlu-dev`)."""


def profiles_dir() -> Path:
    return get_settings().state_dir / "profiles"


def _versions(name: str, folder: Path | None = None) -> list[Path]:
    found = [(int(p.stem[1:]), p) for p in ((folder or profiles_dir()) / name).glob("v*.json") if p.stem[1:].isdigit()]
    return [p for _, p in sorted(found)]


def _version_number(path: Path) -> int:
    return int(path.stem[1:])


def save_profile(name: str, source: dict[str, str], agents: dict[str, AgentReliability]) -> ReliabilityProfile:
    """Write the next version of profile `name` (earlier versions stay: runs name the one they used);
    numbers continue after a shipped profile's, so `name@vN` never means two things."""
    version = max(map(_version_number, _versions(name) + _versions(name, SHIPPED_DIR)), default=0) + 1
    created = datetime.now(UTC).isoformat(timespec="seconds")
    profile = ReliabilityProfile(name=name, version=version, created_at=created, source=source, agents=agents)
    path = profiles_dir() / name / f"v{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(profile.model_dump_json(indent=2), encoding="utf-8")
    partial.replace(path)  # never a half-written profile
    return profile


def load_profile(ref: str, *, field: str = "profile") -> ReliabilityProfile:
    """A profile by path (`…/v2.json`), by `name@vN`, or by name (its newest version).

    Raises:
        ConfigError: no such profile or version, or a file that is not a profile.
    """
    name, _, version = ref.partition("@")
    if ref.endswith(".json"):
        path = Path(ref)
    elif version:
        path = profiles_dir() / name / f"{version}.json"
        if not path.is_file() and (SHIPPED_DIR / name / f"{version}.json").is_file():
            path = SHIPPED_DIR / name / f"{version}.json"
    else:
        versions = _versions(name) or _versions(name, SHIPPED_DIR)  # yours first, then orch's own
        if not versions:
            raise ConfigError(
                "graph", field, f"no reliability profile {ref!r} in {profiles_dir()}: `orch profile fit {name} …`"
            )
        path = versions[-1]
    if not path.is_file():
        raise ConfigError("graph", field, f"no reliability profile at {path}")
    try:
        return ReliabilityProfile.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, UnicodeDecodeError) as exc:
        raise ConfigError(path, None, f"not a reliability profile: {str(exc).splitlines()[0]}") from exc
