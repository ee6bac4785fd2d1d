"""Analytic-DPM (Bao et al., 2022): the optimal reverse variance from a per-model Gamma table.

`variance` holds the maths and the table, `scheduler` the DDIM-based schedulers that use it,
`estimate` the Monte Carlo estimate, `sources` the clean data and model calls it needs,
`store` the on-disk cache and `tables` the service the runner and the CLI ask for a table.
"""
