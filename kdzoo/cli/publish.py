"""Shipped weights: copy a finished run's student into ``checkpoints/teachers/`` and record it in a manifest.

``checkpoints/manifest.json`` maps a name to ``{file, recipe, data, sha256, scores, command}``, so anyone can
check that a shipped file is the one a given recipe produced, and with which score.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from kdzoo.files import sha256_of

MANIFEST = Path("checkpoints/manifest.json")


def read_manifest(path: str | Path = MANIFEST) -> dict[str, dict]:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


def publish(run_dir: str | Path, name: str, command: str, dest_dir: str | Path = "checkpoints/teachers",
            manifest: str | Path = MANIFEST) -> dict:
    """Copy ``run_dir/student.pt`` to ``dest_dir/<name>.pt`` and add its manifest entry.

    Args:
        run_dir: a finished ``kdzoo fit`` run folder (holds ``student.pt``, ``summary.json``, ``config.yaml``).
        name: the published name, e.g. ``teacher_demo``.
        command: the exact command that produced the run (recorded for reproduction).
    """
    run_dir = Path(run_dir)
    for required in ("student.pt", "summary.json", "config.yaml"):
        if not (run_dir / required).is_file():
            raise FileNotFoundError(f"{run_dir / required} is missing: is {run_dir} a finished `kdzoo fit` run?")
    dest = Path(dest_dir) / f"{name}.pt"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(run_dir / "student.pt", dest)
    summary = json.loads((run_dir / "summary.json").read_text())
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    entry = {
        "file": dest.as_posix(),
        "recipe": run_dir.parent.name,  # runs live in checkpoints/runs/<recipe>/version_N
        "sha256": sha256_of(dest),
        "architecture": config["model"]["student"],
        "data": config["data"],
        "seed": config.get("seed_everything"),
        "scores": summary["scores"],
        "command": command,
    }
    entries = read_manifest(manifest)
    entries[name] = entry
    Path(manifest).write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    return entry
