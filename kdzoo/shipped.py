"""Where the files kdzoo ships live: the recipes and the shipped teacher checkpoints (+ manifest).

In a source checkout (``pip install -e .``) they are the top-level ``recipes/`` and ``checkpoints/`` folders
beside the package. A wheel (``pip install .``) cannot carry folders outside its package, so the build step
in ``setup.py`` copies them into ``kdzoo/_shipped/`` inside the wheel. This module hides the difference:
every lookup of a recipe or a shipped checkpoint goes through it, so both work from any working directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WHEEL_DIR = PACKAGE_DIR / "_shipped"


def shipped_root() -> Path:
    """The folder holding ``recipes/`` and ``checkpoints/``: inside the wheel, else the source checkout."""
    return WHEEL_DIR if WHEEL_DIR.is_dir() else PACKAGE_DIR.parent


def recipes_dir() -> Path:
    """The shipped recipes (``kdzoo recipes`` lists them)."""
    return shipped_root() / "recipes"


def manifest_path() -> Path:
    """``checkpoints/manifest.json`` of the shipped weights."""
    return shipped_root() / "checkpoints" / "manifest.json"


def candidates(path: str | Path, base: str | Path | None = None) -> list[Path]:
    """Where a relative ``path`` from a recipe may point, in lookup order.

    1. as given (relative to the working directory), so a user's own files win;
    2. relative to ``base`` (the recipe's folder), when given;
    3. relative to the shipped root (``checkpoints/teachers/teacher_demo.pt`` in a checkout or a wheel).
    An absolute path is only itself.
    """
    path = Path(path)
    if path.is_absolute():
        return [path]
    found = [Path.cwd() / path]
    if base is not None:
        found.append(Path(base) / path)
    found.append(shipped_root() / path)
    return list(dict.fromkeys(found))


def resolve(path: str | Path, what: str = "file", base: str | Path | None = None, hint: str = "") -> Path:
    """The first existing :func:`candidates` of ``path``; else FileNotFoundError naming every place looked in."""
    options = candidates(path, base)
    for option in options:
        if option.is_file():
            return option
    looked = ", ".join(str(p) for p in options)
    raise FileNotFoundError(f"{what} {path} does not exist (looked in: {looked}){'; ' + hint if hint else ''}")
