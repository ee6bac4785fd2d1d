"""The AMED-Solver (Zhou et al., CVPR 2024): mean-value ODE steps at a learned intermediate time.

`plan` holds the grid and the step maths, `predictor` the small learned network, `scheduler` the
diffusers scheduler and the model hooks it samples with, `fit` the training against a many-step
trajectory and `store` the on-disk cache and the service the runner and the CLI ask.
"""
