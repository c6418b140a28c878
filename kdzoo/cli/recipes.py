"""Recipe lookup: ``--recipe NAME`` -> a YAML file, from ``./recipes`` or the recipes kdzoo ships."""

from __future__ import annotations

from pathlib import Path


def recipe_dirs() -> list[Path]:
    """Where recipes are looked up, in order: ``./recipes`` (a user's own) then the shipped ones."""
    from kdzoo.shipped import recipes_dir

    return list(dict.fromkeys([Path.cwd() / "recipes", recipes_dir()]))


def find_recipe(name: str) -> Path:
    """``recipes/<name>.yaml`` from the working directory or the shipped recipes; a YAML path is returned as is."""
    if name.endswith((".yaml", ".yml")):
        if Path(name).is_file():
            return Path(name)
        raise SystemExit(f"kdzoo: recipe file {name} does not exist")
    for folder in recipe_dirs():
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    looked = ", ".join(str(folder) for folder in recipe_dirs())
    raise SystemExit(f"kdzoo: no recipe named {name!r} (looked in {looked}); available: "
                     f"{', '.join(recipe_names()) or 'none found'}")


def recipe_names() -> list[str]:
    """Every recipe name found in :func:`recipe_dirs` (files starting with ``_`` are private)."""
    names = {p.stem for folder in recipe_dirs() if folder.is_dir() for p in folder.glob("*.yaml")}
    return sorted(name for name in names if not name.startswith("_"))


def recipe_description(path: Path) -> str:
    """The first comment line of a recipe file."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            return line.lstrip("# ").strip()
    return ""


def expand_recipe(args: list[str]) -> list[str]:
    """Replace ``--recipe NAME`` / ``--recipe=NAME`` by ``--config PATH``, keeping every other argument."""
    out, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--recipe":
            if i + 1 >= len(args):
                raise SystemExit("kdzoo: --recipe needs a name (see `kdzoo recipes`)")
            out += ["--config", str(find_recipe(args[i + 1]))]
            i += 2
            continue
        if arg.startswith("--recipe="):
            arg = f"--config={find_recipe(arg.split('=', 1)[1])}"
        out.append(arg)
        i += 1
    return out
