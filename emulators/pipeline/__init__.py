"""An experiment as a pipeline of stages (DESIGN.md: "The experiment is a pipeline").

- :mod:`~emulators.pipeline.schemas`: the config, validated whole before anything runs;
- :mod:`~emulators.pipeline.targets`: the registry of classes a config may build;
- :mod:`~emulators.pipeline.stages`: levels → fit → validate → analyse → export;
- :mod:`~emulators.pipeline.report`: report and metrics;
- :mod:`~emulators.pipeline.run`: :func:`run_experiment`, the stages chained.
"""

from simulators._guard import import_sibling

import_sibling("datasets")  # a foreign 'datasets' package first on the path is named

from emulators.pipeline.run import ExperimentResult, run_experiment  # noqa: E402

__all__ = ["run_experiment", "ExperimentResult"]
