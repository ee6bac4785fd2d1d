"""The AMED-Solver (Zhou et al., CVPR 2024): mean-value ODE steps at a learned intermediate time,
and its AMED-Plugin on a multistep solver.

`plan` holds the grid and the step maths, `rules` how each variant crosses an interval,
`predictor` the small learned network, `scheduler` the diffusers schedulers and the model hooks
they sample with, `fit` the training against a many-step trajectory and `store` the on-disk cache
and the service the runner and the CLI ask.
"""
