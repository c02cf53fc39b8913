"""The run template every task follows, in this order:

    prepare the run folder -> read and validate data -> (folder created, recipe saved) -> load the model ->
    evaluate before (cached) -> train -> evaluate after -> save model and card atomically -> metrics -> report

Under several processes (torchrun / accelerate launch; core/distributed.py) rank 0 alone prepares the folder,
computes "before" and writes everything; the other ranks wait at barriers, train, and return without writing.

A task's `run` reads top to bottom and fills in the steps (its data, model, evaluators and training); `Run` owns
the skeleton, so no task retypes it: the run-folder rules, seeding, timings, the cached "before", the metrics
envelope (timings, versions, recipe hash), the atomic model folder with its card inside, and the report.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from domaintune.core import distributed
from domaintune.core.io import atomic_write_json, atomic_write_text, package_versions, save_folder_atomically, set_seed
from domaintune.core.recipe import save_recipe
from domaintune.core.rundir import prepare_run_dir


class Run:
    def __init__(self, recipe, resume: bool = False, overwrite: bool = False):
        self.t_all = time.perf_counter()
        self.recipe, self.resume = recipe, resume
        self.timings: dict[str, float] = {}
        distributed.init()
        # one decision, by rank 0, for every rank: had each rank looked at the folder itself, a rank could find the
        # recipe rank 0 had just saved and refuse the run as an occupied folder (or delete it again on --overwrite)
        self.dir: Path = distributed.from_main(lambda: prepare_run_dir(recipe, resume, overwrite))
        self.seed()

    def seed(self, seed: int | None = None) -> None:
        """One seed for python, numpy and torch: the recipe's (training.seed), or the one given."""
        seed = seed if seed is not None else self.recipe.seed()
        if seed is not None:
            set_seed(seed)

    @contextmanager
    def timed(self, step: str):
        t = time.perf_counter()
        yield
        self.timings[step] = round(time.perf_counter() - t, 2)

    def read_data(self, read: Callable[[], tuple]) -> tuple:
        """The task's data step, timed; under several processes rank 0 first (it may write generated data into the
        run folder), then the others, which read it."""
        with self.timed("data"):
            return distributed.main_first(read)

    def start(self) -> None:
        """After the data was read and validated (a bad file leaves no half run behind): the folder and recipe."""
        if distributed.is_main():
            self.dir.mkdir(parents=True, exist_ok=True)
            save_recipe(self.recipe, self.dir / "recipe.yaml")
        distributed.barrier()

    def before(self, compute: Callable[[], dict], everywhere: bool = False) -> dict:
        """The 'before' evaluation, computed once and cached in RUN/before.json with its seconds, so a resumed run
        does not pay for it twice. Under several processes rank 0 computes it and the others read its file; with
        `everywhere` every rank computes it together (its feature pass is sharded across them) and rank 0 writes."""
        path = self.dir / "before.json"

        def computed_once() -> dict:
            if everywhere:  # one decision and one value for all ranks: rank 0's file
                if distributed.from_main(path.exists):
                    return distributed.from_main(lambda: json.loads(path.read_text()))
            elif path.exists():
                return json.loads(path.read_text())
            t = time.perf_counter()
            result = {**compute(), "seconds": round(time.perf_counter() - t, 2)}
            if distributed.is_main():
                atomic_write_json(path, result)
            return result

        cached = computed_once() if everywhere else distributed.main_first(computed_once)
        self.timings["evaluate_before"] = cached["seconds"]
        return cached

    def rank_done(self, training: dict) -> dict | None:
        """Under several processes the other ranks are done once training is (rank 0 evaluates and writes): their
        return value; None on rank 0 (and in one process)."""
        if distributed.is_main():
            return None
        return {"task": self.recipe.task, "rank": distributed.rank(), "training": training}

    def finish(self, metrics: dict, write_model: Callable[[Path], None] | None, card: Callable[[dict], str] | None,
               report: Callable[..., dict], log_history: list | None = None) -> dict:
        """Save the model folder (with its card, README.md, inside) atomically, complete the metrics envelope, write
        metrics.json, log_history.json and the report; returns the metrics."""
        metrics.update(timings=self.timings, versions=package_versions(), recipe_hash=self.recipe.hash())
        if write_model is not None:
            with self.timed("save"):
                text = card(metrics) if card else None

                def write(folder: Path) -> None:
                    write_model(folder)
                    if text is not None:
                        atomic_write_text(folder / "README.md", text)

                save_folder_atomically(self.dir / "model", write)
            metrics.setdefault("run", {})["size_on_disk_bytes"] = sum(
                p.stat().st_size for p in (self.dir / "model").rglob("*") if p.is_file())
        self.timings["total"] = round(time.perf_counter() - self.t_all, 2)
        if log_history is not None:
            atomic_write_json(self.dir / "log_history.json", log_history)
        atomic_write_json(self.dir / "metrics.json", metrics)
        report(self.dir, metrics, log_history)
        return metrics
