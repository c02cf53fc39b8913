"""Time of the few-shot contrastive phase (phase 1) and accuracy on SST-2 (all-MiniLM-L6-v2, 16 per class, two
seeds, 1,024 pairs per seed), for comparing two versions of the code on one machine, one after the other:

    git worktree add /tmp/old 6a880d9                                   # the hand-written loop (session 8)
    PYTHONPATH=/tmp/old/src python bench/fewshot_phase1_time.py bench/out/fs_old
    python bench/fewshot_phase1_time.py bench/out/fs_new                 # the shared trainer path
    python bench/fewshot_phase1_time.py bench/out/fs_nock training.body_checkpoint_steps=10000   # no checkpoint

Extra arguments are recipe overrides. Prints one JSON line: phase-1 seconds and test accuracy per seed.
"""

import json
import sys
import time
from pathlib import Path

from domaintune import api

SST2 = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "sst2"

start = time.perf_counter()
m = api.train(None, ["task=fewshot", f"data.train={SST2 / 'train.tsv'}", f"data.test={SST2 / 'dev.tsv'}",
                     "data.columns.text=sentence", "data.n_per_class=16", "training.seeds=[0, 1]",
                     "pairs.max_pairs=1024", *sys.argv[2:], f"output.dir={sys.argv[1]}"], show_progress=False)
print(json.dumps({"body_seconds": [s["body"]["seconds"] for s in m["seeds"]],
                  "accuracy": [round(s["after"]["accuracy"], 4) for s in m["seeds"]],
                  "wall": round(time.perf_counter() - start, 1)}))
