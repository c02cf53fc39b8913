import json

import pytest

from domaintune.errors import DomaintuneError
from domaintune.ner.data import detect_scheme, normalise, read_ner, to_iob2, windows, words_with_offsets


def test_conll_with_language_prefix_extra_columns_and_docstart(tmp_path):
    p = tmp_path / "a.conll"
    p.write_text("-DOCSTART- O\n\nen:John\tNNP\tB-PER\nen:Smith\tNNP\tI-PER\nen:runs\tVBZ\tO\n\nen:Paris B-LOC\n")
    s = read_ner(p)
    assert [x.words for x in s] == [["John", "Smith", "runs"], ["Paris"]]
    assert s[0].tags == ["B-PER", "I-PER", "O"]


def test_conll_line_without_tag_names_file_and_line(tmp_path):
    p = tmp_path / "bad.conll"
    p.write_text("John B-PER\nSmith\n")
    with pytest.raises(DomaintuneError, match=r"bad.conll: line 2: 'Smith' has no tag"):
        read_ner(p)


def test_schemes_are_detected_and_normalised_to_iob2():
    assert to_iob2(["S-PER", "O", "B-LOC", "E-LOC"], "bioes") == ["B-PER", "O", "B-LOC", "I-LOC"]
    assert to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"], "iob1") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    from domaintune.ner.data import Sentence

    assert detect_scheme([Sentence(["a"], ["I-PER"], 1)], "f") == "iob1"
    assert detect_scheme([Sentence(["a", "b"], ["B-PER", "E-PER"], 1)], "f") == "bioes"
    assert detect_scheme([Sentence(["a", "b"], ["B-PER", "I-PER"], 1)], "f") == "iob2"


def test_unknown_tag_scheme_names_file_and_line(tmp_path):
    p = tmp_path / "x.conll"
    p.write_text("John O\nSmith PERSON\n")
    with pytest.raises(DomaintuneError, match=r"x.conll: line 2: tag 'PERSON' is in no known scheme"):
        normalise(read_ner(p), "auto", str(p))


def test_jsonl_spans_become_word_tags(tmp_path):
    p = tmp_path / "s.jsonl"
    spans = [{"start": 0, "end": 12, "label": "PER"}, {"start": 35, "end": 41, "label": "LOC"}]
    p.write_text(json.dumps({"text": "Ada Lovelace met Charles Babbage in London.", "spans": spans}) + "\n")
    s = read_ner(p)[0]
    assert s.words[:3] == ["Ada", "Lovelace", "met"] and s.tags == ["B-PER", "I-PER", "O", "O", "O", "O", "B-LOC", "O"]


@pytest.mark.parametrize("spans,needle", [
    ([{"start": 0, "end": 99, "label": "PER"}], r"line 1: span 0-99 \(PER\) runs past the text"),
    ([{"start": 0, "end": 5, "label": "PER"}, {"start": 3, "end": 8, "label": "ORG"}],
     r"line 1: spans 0-5 \(PER\) and 3-8 \(ORG\) overlap"),
])
def test_bad_spans_are_named(tmp_path, spans, needle):
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps({"text": "Ada Lovelace", "spans": spans}) + "\n")
    with pytest.raises(DomaintuneError, match=needle):
        read_ner(p)


def test_windows_cover_every_word_without_cutting():
    counts = [3, 4, 2, 5, 1, 1, 6]
    ws = windows(counts, 8)
    assert ws[0][0] == 0 and ws[-1][1] == len(counts)
    assert all(a == b for (_, a), (b, _) in zip(ws, ws[1:], strict=False))
    assert all(sum(counts[a:b]) <= 8 for a, b in ws)
    assert windows([20], 8) == [(0, 1)]  # one over-long word gets its own window


def test_words_with_offsets():
    text = "Dr. O'Neil-Smith, Paris"
    assert [(w, text[a:b]) for w, a, b in words_with_offsets(text)][:3] == [("Dr", "Dr"), (".", "."),
                                                                           ("O'Neil-Smith", "O'Neil-Smith")]
