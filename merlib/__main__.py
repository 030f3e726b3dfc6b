"""``python -m merlib``: see :mod:`merlib.cli`."""
from merlib.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
