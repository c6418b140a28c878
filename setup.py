"""Build hook: copy the top-level ``recipes/`` and shipped ``checkpoints/`` into the wheel.

Everything else about the package is declared in ``pyproject.toml``. The repository keeps ``recipes/`` and
``checkpoints/`` at the top level (where people look for them); a wheel can only carry files inside its
package, so they are copied to ``kdzoo/_shipped/`` at build time and found there by ``kdzoo.shipped``.
Editable installs skip the copy: they read the checkout directly.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("recipes/*.yaml", "checkpoints/manifest.json", "checkpoints/teachers/*.pt")


class BuildPyWithShippedFiles(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "kdzoo" / "_shipped"
        for pattern in SHIPPED:
            for source in sorted(HERE.glob(pattern)):
                dest = target / source.relative_to(HERE)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, dest)


setup(cmdclass={"build_py": BuildPyWithShippedFiles})
