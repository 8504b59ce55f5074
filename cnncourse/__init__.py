"""cnncourse: the helpers behind the course's chapters.

Names and signatures follow d2l's PyTorch edition (``try_gpu``,
``load_data_fashion_mnist``, ``train_ch6``, ...), so code written for d2l runs
with ``import cnncourse as d2l``; d2l's tensor aliases (``d2l.tensor``,
``d2l.reduce_sum``, ...) come from ``d2l_aliases`` without being listed here.
Each module has one job and lists what it exports in its ``__all__``; the
package exports the union below. No exported name is also the name of a module,
so ``import cnncourse.NAME`` always reaches the module; ``budget`` is a module
that can be called (``d2l.budget()``, see ``cnncourse/budget.py``).
"""
from . import (analysis, augment, budget, checkpoint, claims, conv, data, device, distributed,
               input_norm, losses, norm, plotting, probes, step, summary, timing, train)
from . import d2l_aliases as _d2l_aliases
from .analysis import *
from .augment import *
from .budget import *
from .checkpoint import *
from .claims import *
from .conv import *
from .data import *
from .device import *
from .distributed import *
from .input_norm import *
from .losses import *
from .norm import *
from .plotting import *
from .probes import *
from .step import *
from .summary import *
from .timing import *
from .train import *

# The one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic);
# CHANGELOG.md says what each version changed.
__version__ = "0.1.0"

_EXPORTING = (analysis, augment, budget, checkpoint, claims, conv, data, device, distributed,
              input_norm, losses, norm, plotting, probes, step, summary, timing, train)
# the modules' own lists, each name once; plus the callable budget module
__all__ = list(dict.fromkeys(["budget", *(n for m in _EXPORTING for n in m.__all__)]))


def __getattr__(name: str):
    # d2l's tensor aliases (d2l.tensor, d2l.reduce_sum, ...) are served here instead of
    # imported, so code taken from d2l runs while dir(cnncourse) lists only the course's own.
    return _d2l_aliases.lookup(name)
