"""twinemu simulators: the models that generate training data.

A simulator takes named parameters and returns named outputs; it knows nothing of
archives or emulators (see ``../shared/DESIGN.md``).  Executors run a batch of design
points on a local pool, a Dask cluster or SLURM.
"""

__twinemu__ = True
