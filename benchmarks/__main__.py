"""``python -m benchmarks``: run the benchmarks (see :mod:`benchmarks.harness`)."""

from benchmarks.harness import main

raise SystemExit(main())
