"""Benchmarks of the studio: each module measures ratios within one run."""
