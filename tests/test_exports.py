"""What ``cnncourse`` exports: every module says so in ``__all__``, and no exported name hides
a module, so ``import cnncourse.NAME`` gives the module whatever was imported before."""
from __future__ import annotations

import importlib
import pkgutil
import types

import cnncourse

MODULES = sorted(m.name for m in pkgutil.walk_packages(cnncourse.__path__, "cnncourse."))


def test_every_module_is_reachable_by_its_dotted_name():
    for name in MODULES:
        module = importlib.import_module(name)
        parent, _, leaf = name.rpartition(".")
        assert getattr(importlib.import_module(parent), leaf) is module, name


def test_the_package_exports_what_its_modules_list():
    exported = set(cnncourse.__all__)
    star: dict = {}
    exec("from cnncourse import *", star)
    assert exported == set(star) - {"__builtins__"}
    assert all(hasattr(cnncourse, n) for n in exported)
    modules = {n.rsplit(".", 1)[1] for n in MODULES}
    hidden = [n for n in exported & modules
              if not isinstance(getattr(cnncourse, n), types.ModuleType)]
    assert not hidden, f"exported names that hide a module: {hidden}"


def test_modules_list_their_exports():
    # messages.py (the printed output's translation) is the factory's, to move out
    missing = [n for n in MODULES if n != "cnncourse.messages"
               and not hasattr(importlib.import_module(n), "__all__")]
    assert not missing, f"modules without __all__: {missing}"
