"""Atomic writes honour the user's umask (mkstemp/mkdtemp alone would make every file 0600, every folder 0700)."""

import os
import stat

import pytest

from domaintune.core.io import atomic_write_json, atomic_write_text, save_folder_atomically


@pytest.fixture
def umask():
    def set_(mask):
        os.umask(mask)
    old = os.umask(0o022)
    yield set_
    os.umask(old)


@pytest.mark.parametrize("mask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775),
                                                      (0o077, 0o600, 0o700)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    atomic_write_text(tmp_path / "report.md", "x")
    atomic_write_json(tmp_path / "metrics.json", {"a": 1})

    def write(folder):
        atomic_write_text(folder / "README.md", "card")
        (folder / "weights.bin").write_bytes(b"\0")

    save_folder_atomically(tmp_path / "model", write)
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tmp_path / "report.md") == file_mode
    assert mode(tmp_path / "metrics.json") == file_mode
    assert mode(tmp_path / "model") == dir_mode
    assert mode(tmp_path / "model" / "README.md") == file_mode
    assert mode(tmp_path / "model" / "weights.bin") == file_mode


def test_a_teammate_can_read_a_finished_run(tmp_path, tiny_bert, tiny_taxonomy, umask):
    """End to end: with the common umask 022 every file of a run folder is readable by others."""
    from domaintune import api

    umask(0o022)
    out = tmp_path / "run"
    api.train(None, [f"model.name={tiny_bert}", f"data.taxonomy.path={tiny_taxonomy}", "training.max_steps=2",
                     "training.eval_steps=2", "evaluation.stsb=false", "evaluation.retrieval=false",
                     "training.tensorboard=false", f"output.dir={out}"], show_progress=False)
    unreadable = [str(p.relative_to(out)) for p in out.rglob("*") if not p.stat().st_mode & stat.S_IROTH]
    assert not unreadable, unreadable
