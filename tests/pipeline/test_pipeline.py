"""The pipeline task: stages in turn, each on the previous stage's model, the last stage also alone; its report
and sections; a bad stage named when the recipe is read."""

from __future__ import annotations

import json

import pytest

from domaintune import api
from domaintune.errors import DomaintuneError
from domaintune.pipeline.task import sections, write_report
from domaintune.registry import load_recipe


def test_pipeline_mlm_then_classification_against_the_last_stage_alone(tiny_bert, job_title_classes, tmp_path):
    corpus = tmp_path / "domain.txt"
    corpus.write_text("\n\n".join(f"{t} works with {u}." for t in ("nurse", "cook", "pilot", "welder", "judge")
                                  for u in ("people", "tools", "data", "machines", "food")) + "\n")
    stages = [{"task": "mlm", "data": {"train": str(corpus), "document_split": "blank_line"},
               "training": {"max_steps": 10, "eval_steps": 5},
               "evaluation": {"general_text": False, "max_eval_blocks": 20}},
              {"task": "classification", "strategy": "full",
               "data": {"train": str(job_title_classes / "train.csv"), "test": str(job_title_classes / "test.csv")},
               "training": {"max_steps": 10, "eval_steps": 5}, "frozen": {"cache_dir": str(tmp_path / "c")}}]
    recipe = load_recipe(None, ["task=pipeline", f"model.name={tiny_bert}", f"output.dir={tmp_path / 'p'}",
                                f"stages={json.dumps(stages)}"])  # JSON is YAML
    m = api.train(recipe, show_progress=False)
    assert [s["stage"] for s in m["stages"]] == ["1-mlm", "2-classification"]
    assert m["stages"][1]["base_model"] == str(tmp_path / "p" / "1-mlm" / "model")
    assert set(m["pipeline_vs_alone"]["delta"]["test"]) == {"accuracy", "macro_f1"}
    assert (tmp_path / "p" / "alone-classification" / "model").exists()
    report = (tmp_path / "p" / "report.md").read_text()
    assert "last stage alone" in report and "1-mlm" in report
    assert "<table>" in (tmp_path / "p" / "report.html").read_text()
    again = api.train(recipe, resume=True, show_progress=False)  # finished stages are reused
    assert again["stages"] == m["stages"]
    assert api.sections(m)[0][0].startswith("Stage 1-mlm") and len(api.sections(m)) == 3


def test_sections_and_report_from_metrics_alone(tmp_path):
    stage = {"before": {"test": {"accuracy": 0.5}}, "after": {"test": {"accuracy": 0.7}},
             "delta": {"test": {"accuracy": 0.2}}, "directions": {"test": {"accuracy": "higher"}}}
    metrics = {"task": "pipeline", "model_dir": "x", "stages": [
        {"stage": "1-mlm", "task": "mlm", "base_model": "base", **stage},
        {"stage": "2-classification", "task": "classification", "base_model": "1-mlm/model", **stage}],
        "pipeline_vs_alone": {"pipeline": stage["after"], "alone": stage["before"], "delta": stage["delta"]}}
    titles = [t for t, _ in sections(metrics)]
    assert titles[0] == "Stage 1-mlm (base: `base`)" and titles[-1].startswith("The end model vs the last stage")
    paths = write_report(tmp_path, metrics)
    md = paths["markdown"].read_text()
    assert "`base` -> `mlm` -> `classification`" in md and "| test | accuracy | 0.5000 | 0.7000 | +0.2000 ↑ |" in md


def test_a_bad_stage_key_is_named():
    with pytest.raises(DomaintuneError, match=r"unknown key 'stages.1.training.epocs'"):
        load_recipe(None, ["task=pipeline", "stages=[{task: mlm}, {task: similarity, training: {epocs: 2}}]"])


def test_a_pipeline_inside_a_pipeline_is_refused():
    with pytest.raises(DomaintuneError, match="each stage needs task"):
        load_recipe(None, ["task=pipeline", "stages=[{task: pipeline}]"])
