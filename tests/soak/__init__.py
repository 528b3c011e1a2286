"""Model-based soak test and crash trials of discobase's data-safety bars (DESIGN.md §7).

``harness`` runs a local server and 2-4 writer processes with seeded random
operations, injected faults, restarts and kill -9; ``checker`` compares what a
fresh reader sees with the reference built from the writers' journals.
"""
