"""Benchmarks of the SDK's own cost per call, against raw aiohttp and the official SDK.

Run them with ``nox -s bench`` (or ``python -m benchmarks`` in an environment where
``backendai_aio`` is installed); ``--quick`` for a short run, ``--help`` for the options.
The results and how to read them are in ``docs/benchmarks.md``.

Layout:

- :mod:`benchmarks.harness`: the command line and the order of the benchmarks;
- :mod:`benchmarks.environments`: the other interpreters' virtual environments (Python 3.13,
  the official SDK 23.9.10 and 26.9.6), made once under ``benchmarks/.cache/``;
- :mod:`benchmarks.contenders`: who is measured, on which interpreter;
- :mod:`benchmarks.processes`: the server and worker processes, driven over pipes;
- :mod:`benchmarks.calls`, :mod:`benchmarks.transfers`, :mod:`benchmarks.imports`,
  :mod:`benchmarks.streams`: the benchmarks themselves;
- :mod:`benchmarks.report`, :mod:`benchmarks.targets`: the tables and the verdicts;
- :mod:`benchmarks.server`: a minimal manager stand-in, run as its own process;
- :mod:`benchmarks.worker`: one client process per contender, driven over stdin/stdout;
- :mod:`benchmarks.contender_raw`, :mod:`benchmarks.contender_aio`,
  :mod:`benchmarks.contender_official`: the contenders, one module each;
- :mod:`benchmarks.stream_server`, :mod:`benchmarks.stream_client`: the emulator and the
  client of the event-stream benchmark, each a process of its own.
- :mod:`benchmarks.trees`, :mod:`benchmarks.tree_worker`, :mod:`benchmarks.tree_report`:
  the many-file benchmarks (7, 8), one transfer per worker process, and their tables.

The worker and the modules it imports use only the standard library (the contender's module
brings its own dependencies), so a worker can run under another interpreter.
"""
