"""Benchmarks of discobase against its peers and against Discord's rate limits.

The peers are discobase 1.0.0 and DiscordBase 0.1.0, both from the package
index. Run them with ``make bench`` or ``python -m benchmarks`` (``--help``
lists the options). One :class:`~discobase.local.LocalDiscord` server runs in
the runner process; every client (this project, and each peer in a virtual
environment of its own) runs the workloads in a subprocess of its own against it.

Modules:

- :mod:`benchmarks.workloads`: the workloads' sizes and their seeded data (stdlib only);
- :mod:`benchmarks.protocol`: what a client process is told and how it reports (stdlib only);
- :mod:`benchmarks.client_ours` / :mod:`benchmarks.client_baseline` (1.0.0) /
  :mod:`benchmarks.client_discordbase` (DiscordBase 0.1.0): the client processes;
- :mod:`benchmarks.ideal`: the least time Discord's limits allow for a workload;
- :mod:`benchmarks.baseline_env`: the peers and the virtual environments holding them;
- :mod:`benchmarks.runner`: starts the server and the clients, collects the figures;
- :mod:`benchmarks.report`: the terminal table, the JSON file and ``docs/benchmarks.md``.

This package's ``__init__`` imports nothing: the peers' client processes import
``benchmarks.workloads`` and ``benchmarks.protocol`` from environments where
``discobase`` is 1.0.0 or absent and ``rich`` may be missing.
"""
