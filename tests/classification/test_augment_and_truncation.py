import random

from domaintune.classification.augment import augment, eda
from domaintune.classification.recipe import AugmentationConfig
from domaintune.core.truncation import encode_texts


def test_head_tail_and_head_plus_tail(tiny_bert):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_bert))
    words = sorted(w for w in tok.get_vocab() if w.isalpha() and len(w) >= 3)[:40]  # one token each
    text = " ".join(words)
    n_tokens = len(tok(text, add_special_tokens=False)["input_ids"])
    assert n_tokens == 40
    for mode, kept in [("head", words[:10]), ("tail", words[-10:]), ("head+tail", words[:2] + words[-8:])]:
        ids, cut = encode_texts(tok, [text, "short"], 12, mode)
        assert cut == [True, False]
        assert len(ids[0]) == 12
        assert tok.decode(ids[0], skip_special_tokens=True).split() == kept
        assert ids[0][0] == tok.cls_token_id and ids[0][-1] == tok.sep_token_id


def test_eda_is_seeded_and_uses_the_synonym_table():
    syn = {"good": ["fine"], "film": ["movie"]}
    text = "a good film with a good cast and a sad end"
    a = eda(text, random.Random(1), syn, 0.3, 0.0, 0.1, 0.1)
    assert a == eda(text, random.Random(1), syn, 0.3, 0.0, 0.1, 0.1)
    many = [eda(text, random.Random(s), syn, 0.5, 0.0, 0.0, 0.0) for s in range(20)]
    assert any("fine" in m or "movie" in m for m in many)


def test_augment_adds_copies_to_training_rows_only():
    import pandas as pd

    df = pd.DataFrame({"text": ["one two three four", "five six seven eight"], "labels": [["a"], ["b"]]})
    assert augment(df, AugmentationConfig()) is df  # off by default
    out = augment(df, AugmentationConfig(enabled=True, copies=2))
    assert len(out) == 6 and out["labels"].tolist()[2:] == [["a"], ["b"], ["a"], ["b"]]
    assert out["text"].tolist()[:2] == df["text"].tolist()
