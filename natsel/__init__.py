"""natsel: evolve neural-network hyperparameters with a genetic algorithm.

The public API:

>>> import natsel
>>> cfg = natsel.load_config("configs/mixed.yaml")    # doctest: +SKIP
>>> run = natsel.evolve(cfg, progress=False)          # doctest: +SKIP
>>> natsel.load_run(run.path).fittest                 # doctest: +SKIP
>>> natsel.train_best(run.path)                       # doctest: +SKIP
>>> natsel.load_model(run.path).predict(rows)         # doctest: +SKIP
>>> natsel.evolve({"space": {"x": {"low": 0.0, "high": 1.0}}, "workers": 0}, fitness=lambda g: g["x"])  # doctest: +SKIP
>>> search = natsel.Search(cfg); genomes = search.ask(); search.tell(genomes[0], 0.9)  # doctest: +SKIP
"""

from natsel._config import Config, config_from_dict, load_config  # noqa: E402
from natsel._errors import ConfigError, DataError, NatselError, RunDirError  # noqa: E402
from natsel._evolve import evolve  # noqa: E402
from natsel._predict import Model, load_model  # noqa: E402
from natsel._run import Run, load_run  # noqa: E402
from natsel._search import Search, SearchClosed  # noqa: E402
from natsel._space import Choice, Fixed, FloatRange, IntRange, SearchSpace, genome_key  # noqa: E402
from natsel._train_best import train_best  # noqa: E402
from natsel._version import __version__  # noqa: E402
from natsel.strategies.genetic import GASettings  # noqa: E402
from natsel.tracking import export  # noqa: E402

__all__ = [
    "Choice", "Config", "ConfigError", "DataError", "Fixed", "FloatRange", "GASettings", "IntRange", "Model",
    "NatselError", "Run", "RunDirError", "Search", "SearchClosed", "SearchSpace", "__version__", "config_from_dict",
    "evolve", "export", "genome_key", "load_config", "load_model", "load_run", "train_best",
]
