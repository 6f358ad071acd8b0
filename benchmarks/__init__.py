"""ferroloop's benchmark suite: `python -m benchmarks --help`.

Modules: measure (the registry and the one-process-per-measurement protocol), micro,
procs and net (the benchmarks), loops (the loops compared), runner (rounds and
results), report (the markdown table and the chart).
"""
