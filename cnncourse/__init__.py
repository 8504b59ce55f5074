"""cnncourse: the helpers behind the course's chapters.

Names and signatures follow d2l's PyTorch edition (``try_gpu``,
``load_data_fashion_mnist``, ``train_ch6``, ...), so code written for d2l runs
with ``import cnncourse as d2l``; d2l's tensor aliases (``d2l.tensor``,
``d2l.reduce_sum``, ...) come from ``d2l_aliases`` without being listed here.
Each module has one job; see its docstring.
"""
from .analysis import *  # noqa: F401,F403
from .augment import *  # noqa: F401,F403
from .budget import *  # noqa: F401,F403
from .claims import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .data import *  # noqa: F401,F403
from .device import *  # noqa: F401,F403
from .input_norm import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .plot import *  # noqa: F401,F403
from .probes import *  # noqa: F401,F403
from .summary import *  # noqa: F401,F403
from .step import *  # noqa: F401,F403
from .timing import *  # noqa: F401,F403
from .train import *  # noqa: F401,F403
from . import d2l_aliases as _d2l_aliases


def __getattr__(name: str):
    # d2l's tensor aliases (d2l.tensor, d2l.reduce_sum, ...) are served here instead of
    # imported, so code taken from d2l runs while dir(cnncourse) lists only the course's own.
    return _d2l_aliases.lookup(name)


__version__ = "0.1.0"
