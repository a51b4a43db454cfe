"""Benchmarks of the SDK's own cost per call, against raw aiohttp and the official SDK.

Run them with ``nox -s bench`` (or ``python -m benchmarks`` in an environment where
``backendai_aio`` is installed); ``--quick`` for a short run, ``--help`` for the options.
The results and how to read them are in ``docs/benchmarks.md``.

Layout:

- :mod:`benchmarks.server`: a minimal manager stand-in, run as its own process;
- :mod:`benchmarks.worker`: one client process per contender, driven over stdin/stdout;
- :mod:`benchmarks.contender_raw`, :mod:`benchmarks.contender_aio`,
  :mod:`benchmarks.contender_official`: the contenders, one module each;
- :mod:`benchmarks.official_env`: the official SDK's own virtual environment;
- :mod:`benchmarks.harness`: the orchestration, the table and the JSON results.

Every module but the harness, the server and the contenders themselves imports only the
standard library, so a worker can run under another interpreter (the official SDK's venv).
"""
