"""The ``kdzoo`` command: LightningCLI runner, recipe lookup, benchmarks and publishing (nothing imports it)."""

from kdzoo.cli.main import main

__all__ = ["main"]
