"""Benchmarks of discobase against discobase 1.0.0 and against Discord's rate limits.

Run them with ``make bench`` or ``python -m benchmarks`` (``--help`` lists the
options). One :class:`~discobase.local.LocalDiscord` server runs in the runner
process; every client (this project, and discobase 1.0.0 from PyPI in its own
virtual environment) runs the workloads in a subprocess of its own against it.

Modules:

- :mod:`benchmarks.workloads`: the workloads' sizes and their seeded data (stdlib only);
- :mod:`benchmarks.protocol`: what a client process is told and how it reports (stdlib only);
- :mod:`benchmarks.client_ours` / :mod:`benchmarks.client_baseline`: the client processes;
- :mod:`benchmarks.ideal`: the least time Discord's limits allow for a workload;
- :mod:`benchmarks.baseline_env`: the virtual environment holding discobase 1.0.0;
- :mod:`benchmarks.runner`: starts the server and the clients, collects the figures;
- :mod:`benchmarks.report`: the terminal table, the JSON file and ``docs/benchmarks.md``.

This package's ``__init__`` imports nothing: the 1.0.0 client process imports
``benchmarks.workloads`` and ``benchmarks.protocol`` from an environment where
``discobase`` is 1.0.0 and ``rich`` may be missing.
"""
