import pandas as pd
import pytest

from domaintune.classification.data import (
    check_known_labels,
    check_label_set,
    encode_labels,
    infer_label_set,
    load_labelled,
    stratified_split,
)
from domaintune.errors import DomaintuneError


def write(tmp_path, rows, name="d.csv"):
    p = tmp_path / name
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


def test_text_and_int_labels_and_inferred_order(tmp_path):
    df = load_labelled(write(tmp_path, {"text": ["a", "b", "c"], "label": ["10", "2", "2"]}))
    assert infer_label_set(df) == ["2", "10"]  # numeric order for integer labels
    df = load_labelled(write(tmp_path, {"text": ["a", "b"], "label": ["pos", "neg"]}))
    assert infer_label_set(df) == ["neg", "pos"]
    assert encode_labels(df, ["neg", "pos"], False).tolist() == [1, 0]


def test_multi_label_cells_by_separator_or_json(tmp_path):
    df = load_labelled(write(tmp_path, {"text": ["a", "b"], "label": ["x|y", '["z", "x"]']}), multi_label=True)
    assert df["labels"].tolist() == [["x", "y"], ["x", "z"]]
    assert encode_labels(df, ["x", "y", "z"], True).tolist() == [[1, 1, 0], [1, 0, 1]]


def test_multi_label_row_in_single_label_task_is_named(tmp_path):
    p = write(tmp_path, {"text": ["a", "b"], "label": ["x", "x|y"]})
    with pytest.raises(DomaintuneError, match=r"d.csv: 1 bad row\(s\): row 2, column 'label'.*multi_label is false"):
        load_labelled(p)


def test_one_class_only_is_refused(tmp_path):
    df = load_labelled(write(tmp_path, {"text": ["a", "b"], "label": ["x", "x"]}))
    with pytest.raises(DomaintuneError, match=r"d.csv: column 'label' holds one class only"):
        check_label_set(df, infer_label_set(df), False)


def test_unseen_eval_labels_are_named(tmp_path):
    df = load_labelled(write(tmp_path, {"text": ["a", "b", "c"], "label": ["x", "q", "y"]}, "val.csv"))
    with pytest.raises(DomaintuneError, match=r"val.csv: column 'label': label\(s\) not seen in training: row 2: 'q'"):
        check_known_labels(df, ["x", "y"], "validation")


def test_empty_file_and_empty_cells(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DomaintuneError, match="e.csv: the file is empty"):
        load_labelled(tmp_path / "e.csv")
    p = write(tmp_path, {"text": ["a", "", "c"], "label": ["x", "y", ""]})
    with pytest.raises(DomaintuneError, match=r"row 2, column 'text': empty text; row 3, column 'label': empty"):
        load_labelled(p)
    assert len(load_labelled(p, on_bad_rows="skip")) == 1


def test_stratified_split_keeps_class_shares(tmp_path):
    rows = {"text": [f"t{i}" for i in range(100)], "label": ["a"] * 80 + ["b"] * 20}
    df = load_labelled(write(tmp_path, rows))
    train, val = stratified_split(df, 0.2, seed=0)
    assert len(val) == 20 and sum(lab == ["b"] for lab in val["labels"]) == 4
    assert set(train.text) | set(val.text) == set(df.text) and not set(train.text) & set(val.text)
    again = stratified_split(df, 0.2, seed=0)[1]
    assert again.text.tolist() == val.text.tolist()
