"""``python -m kdzoo`` is the same as the ``kdzoo`` command."""

from kdzoo.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
