"""Named-entity data: CoNLL-style token/tag files and JSONL with character spans, tag schemes normalised to
IOB2, and sentences cut into windows that fit the model (never truncated silently).

CoNLL: one token per line, the tag in the last column (extra columns in between are ignored), a blank line
between sentences; `-DOCSTART-` lines are skipped; an optional `xx:` language prefix on the token (WikiANN's
`en:Saunders`) is removed. JSONL: {"text": ..., "spans": [{"start": 0, "end": 5, "label": "PER"}, ...]}
(`entities` is accepted for `spans`); the text is split into words and each word tagged from the spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from domaintune.core.tables import iter_jsonl
from domaintune.errors import DomaintuneError

WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")
LANG_PREFIX = re.compile(r"^[a-z]{2,3}:(?=.)")


@dataclass
class Sentence:
    words: list[str]
    tags: list[str]
    line: int  # where it starts in its file (1-based), for error messages


def words_with_offsets(text: str) -> list[tuple[str, int, int]]:
    """Split raw text into words (and punctuation), with character offsets: the unit NER predicts on."""
    return [(m.group(), m.start(), m.end()) for m in WORD.finditer(text)]


def read_conll(path: Path, strip_language_prefix: bool = True) -> list[Sentence]:
    sentences, words, tags, start = [], [], [], 1
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DomaintuneError(f"{path}: not valid UTF-8 (byte {e.start}); save the file as UTF-8") from None
    for n, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(Sentence(words, tags, start))
            words, tags, start = [], [], n + 1
            continue
        cols = line.split("\t") if "\t" in line else line.split()
        if len(cols) < 2:
            raise DomaintuneError(f"{path}: line {n}: {line!r} has no tag; expected a token and a tag separated by "
                                  "a tab or spaces")
        token = LANG_PREFIX.sub("", cols[0]) if strip_language_prefix else cols[0]
        words.append(token)
        tags.append(cols[-1])
    if words:
        sentences.append(Sentence(words, tags, start))
    if not sentences:
        raise DomaintuneError(f"{path}: no sentences found")
    return sentences


def checked_spans(spans, path: Path, n: int) -> list[dict]:
    """The spans of line n, each {start: int, end: int, label: non-empty str}, or a one-line error."""
    ok = isinstance(spans, list) and all(
        isinstance(s, dict) and type(s.get("start")) is int and type(s.get("end")) is int
        and isinstance(s.get("label"), str) and s["label"].strip() for s in spans)
    if not ok:
        raise DomaintuneError(f"{path}: line {n}: 'spans' must be a list of {{\"start\": int, \"end\": int, "
                              "\"label\": str}")
    return spans


def read_span_jsonl(path: Path) -> list[Sentence]:
    sentences = []
    for n, row in iter_jsonl(path):
        if not isinstance(row.get("text"), str):
            raise DomaintuneError(f"{path}: line {n}: no 'text' string (expected {{\"text\": ..., \"spans\": "
                                  "[{\"start\": int, \"end\": int, \"label\": str}, ...]})")
        text = row["text"]
        spans = sorted(checked_spans(row.get("spans", row.get("entities", [])), path, n),
                       key=lambda s: (s["start"], s["end"]))
        for k, s in enumerate(spans):
            if not (0 <= s["start"] < s["end"] <= len(text)):
                raise DomaintuneError(f"{path}: line {n}: span {s['start']}-{s['end']} ({s.get('label')}) runs past "
                                      f"the text ({len(text)} characters)")
            if k and s["start"] < spans[k - 1]["end"]:
                p = spans[k - 1]
                raise DomaintuneError(f"{path}: line {n}: spans {p['start']}-{p['end']} ({p.get('label')}) and "
                                      f"{s['start']}-{s['end']} ({s.get('label')}) overlap")
        words, tags = [], []
        for w, a, b in words_with_offsets(text):
            label, first = None, False
            for s in spans:
                if a < s["end"] and b > s["start"]:
                    label, first = s["label"], a <= s["start"]
                    break
            words.append(w)
            if label is None:
                tags.append("O")
            else:
                tags.append(("B-" if first or not tags or tags[-1][2:] != label else "I-") + label)
        sentences.append(Sentence(words, tags, n))
    if not sentences:
        raise DomaintuneError(f"{path}: no rows found")
    return sentences


def read_ner(path: str | Path, fmt: str = "auto", strip_language_prefix: bool = True) -> list[Sentence]:
    path = Path(path)
    if not path.exists():
        raise DomaintuneError(f"{path}: file not found")
    if fmt == "auto":
        fmt = "jsonl" if path.suffix.lower() in (".jsonl", ".json") else "conll"
    return read_span_jsonl(path) if fmt == "jsonl" else read_conll(path, strip_language_prefix)


def detect_scheme(sentences: list[Sentence], path: str) -> str:
    """iob1, iob2 or bioes, from the tags; anything else is an error naming the first bad tag's sentence."""
    prefixes = set()
    for s in sentences:
        for k, t in enumerate(s.tags):
            if t == "O":
                continue
            if len(t) < 3 or t[1] not in "-_" or t[0] not in "BIESLU":
                raise DomaintuneError(f"{path}: line {s.line + k}: tag {t!r} is in no known scheme; expected O or "
                                      "B-/I- (IOB1, IOB2) or B-/I-/E-/S- (BIOES) followed by a type, e.g. B-PER")
            prefixes.add(t[0])
    if prefixes & set("ESLU"):
        return "bioes"
    for s in sentences:  # IOB1: an entity may start with I- (B- only between two same-type entities)
        for k, t in enumerate(s.tags):
            if t.startswith("I") and (k == 0 or s.tags[k - 1] == "O" or s.tags[k - 1][2:] != t[2:]):
                return "iob1"
    return "iob2"


def to_iob2(tags: list[str], scheme: str) -> list[str]:
    out = []
    for k, t in enumerate(tags):
        if t == "O":
            out.append(t)
            continue
        p, typ = t[0], t[2:]
        if scheme == "bioes":
            p = {"S": "B", "U": "B", "E": "I", "L": "I"}.get(p, p)
        elif scheme == "iob1" and p == "I" and (k == 0 or out[-1] == "O" or out[-1][2:] != typ):
            p = "B"
        out.append(f"{p}-{typ}")
    return out


SCHEME_PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIESLU"}  # L(ast) / U(nit): BILOU's names for E and S


def check_scheme(sentences: list[Sentence], scheme: str, path: str) -> None:
    """Every tag is O or a prefix of `scheme` + '-' (or '_') + a type; else a one-line error naming its line."""
    allowed = SCHEME_PREFIXES[scheme]
    for s in sentences:
        for k, t in enumerate(s.tags):
            if t != "O" and not (len(t) > 2 and t[0] in allowed and t[1] in "-_"):
                raise DomaintuneError(
                    f"{path}: line {s.line + k}: tag {t!r} is not in the {scheme.upper()} scheme (data.scheme); "
                    f"expected O or {'/'.join(p + '-' for p in allowed)} followed by a type, e.g. B-PER")


def normalise(sentences: list[Sentence], scheme: str, path: str) -> str:
    """Rewrite every sentence's tags as IOB2 in place; returns the scheme that was found or given."""
    scheme = scheme.lower()
    found = detect_scheme(sentences, path) if scheme == "auto" else scheme
    check_scheme(sentences, found, path)
    for s in sentences:
        s.tags = to_iob2(s.tags, found)
    return found


def first_unseen(sentences: list[Sentence], tags: list[str]) -> tuple[int, str] | None:
    """(line, tag) of the first tag outside `tags`, or None."""
    known = set(tags)
    return next(((s.line + k, t) for s in sentences for k, t in enumerate(s.tags) if t not in known), None)


def windows(word_token_counts: list[int], budget: int) -> list[tuple[int, int]]:
    """Cut a sentence into consecutive word ranges whose sub-tokens fit `budget` (a single word longer than the
    budget gets a window of its own and is cut there, the only place anything is cut)."""
    out, start, used = [], 0, 0
    for k, n in enumerate(word_token_counts):
        if used + n > budget and k > start:
            out.append((start, k))
            start, used = k, 0
        used += n
    out.append((start, len(word_token_counts)))
    return out
