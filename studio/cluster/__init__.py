"""The engine on a Ray cluster: Ray Serve for generation, Ray Train for distillation.

The only package that imports Ray (the optional `cluster` extra); the window and the CLI reach
it through `studio serve` and `studio distill --workers N`, never at start-up."""
