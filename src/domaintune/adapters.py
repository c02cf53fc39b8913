"""Adapters (PEFT) around any encoder model, and how a saved head or adapter names the encoder it was trained on:
shared by every task that trains one (classification, NER) or puts a head on a frozen encoder."""

from __future__ import annotations

from pathlib import Path

from domaintune.errors import DomaintuneError

ADAPTERS = {"lora": "LoraConfig", "ia3": "IA3Config", "loha": "LoHaConfig", "lokr": "LoKrConfig"}


def wrap_adapter(model, strategy: str, a, task_type: str, heads: tuple[str, ...]):
    """A PEFT adapter of the named method around `model`; the task head (and pooler) modules present are trained
    and saved with the adapter (modules_to_save), so a reloaded adapter predicts like the trained one."""
    import peft

    kw = {"task_type": getattr(peft.TaskType, task_type), "target_modules": a.target_modules,
          "modules_to_save": [n for n in heads if _has_module(model, n)]}
    if strategy == "lora":
        kw.update(r=a.r, lora_alpha=a.alpha, lora_dropout=a.dropout, use_dora=a.dora)
    elif strategy in ("loha", "lokr"):
        kw.update(r=a.r, alpha=a.alpha, module_dropout=a.dropout)
    elif strategy == "ia3" and a.target_modules == "all-linear":
        kw["feedforward_modules"] = "all-linear"
    return peft.get_peft_model(model, getattr(peft, ADAPTERS[strategy])(**kw))


def _has_module(model, name: str) -> bool:
    return any(n.split(".")[-1] == name for n, _ in model.named_modules())


def base_record(name: str, fingerprint: str | None = None) -> dict:
    """How a saved head or adapter names its encoder: the name as given (absolute when a local path),
    and the weights' fingerprint (computed from the encoder's folder unless given)."""
    from domaintune import models

    p = Path(name).expanduser()
    stored = str(p.resolve()) if p.exists() and name.strip().lower() not in models.PACKAGED else name
    return {"name": stored, "fingerprint": fingerprint or models.fingerprint(models.encoder_folder(name))}


def check_same_encoder(base: dict, now: str, folder: Path) -> None:
    if now != base["fingerprint"]:
        raise DomaintuneError(f"{folder}: trained on encoder '{base['name']}' with weights {base['fingerprint']}, "
                              f"but that name now holds different weights ({now}); point it at the original encoder")


def base_folder(base: dict, folder: Path) -> Path:
    from domaintune.models import encoder_folder, fingerprint

    enc = encoder_folder(base["name"])
    check_same_encoder(base, fingerprint(enc), folder)
    return enc
