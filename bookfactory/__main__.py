"""One entry point for the book's factory: ``python -m bookfactory COMMAND [ARGS...]``.

Each command is one module of this package, called with the arguments given: ``python -m
bookfactory build --budget smoke`` is ``bookfactory.build_book.main(["--budget", "smoke"])``;
``python -m bookfactory COMMAND --help`` shows that command's own options. Relative paths
in the arguments are read from where you are, as with any command. ``bench NAME`` runs
``benchmarks/bench_NAME.py`` (the benchmarks stay scripts: the GPU kit runs them alone).
"""
from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from . import toc

__all__ = ["COMMANDS", "main"]

ROOT = Path(__file__).resolve().parents[1]

# command -> (module of this package, or the benchmark script's pattern; what it does)
COMMANDS: dict[str, tuple[str, str]] = {
    "build": ("bookfactory.build_book", "build the HTML book (English and 简体中文) in a budget"),
    "notebooks": ("bookfactory.sync_notebooks", "write chapters/*.ipynb from the .md sources"),
    "i18n": ("bookfactory.i18n", "update or check the zh_CN translation catalogues"),
    "claims": ("bookfactory.claims", "survey every chapter's claims over seeds"),
    "speed": ("bookfactory.make_speed_page", "write book/speed.md from the recorded results"),
    "gpu-check": ("bookfactory.gpu_check", "run every chapter and benchmark on a GPU machine"),
    "bench": ("benchmarks/bench_{}.py", "run benchmarks/bench_NAME.py: bench NAME [ARGS]"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"  {name:<{width}}  {doc} ({prog.format('NAME')})"
             for name, (prog, doc) in COMMANDS.items()]
    lines.append(f"  {'chapters':<{width}}  print the book's chapters in reading order (_toc.yml)")
    return ("usage: python -m bookfactory COMMAND [ARGS...]\n\ncommands:\n" + "\n".join(lines)
            + "\n\nCOMMAND --help shows the command's own options.")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    command, rest = args[0], args[1:]
    if command == "chapters":
        print("\n".join(toc.chapters()))
        return 0
    if command not in COMMANDS:
        print(f"bookfactory: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    program = COMMANDS[command][0]
    if command == "bench":
        if not rest or rest[0].startswith("-"):
            names = sorted(p.stem.removeprefix("bench_")
                           for p in (ROOT / "benchmarks").glob("bench_*.py"))
            print(f"bookfactory bench: name a benchmark first, one of {', '.join(names)}",
                  file=sys.stderr)
            return 2
        program, rest = program.format(rest[0]), rest[1:]
        if not (ROOT / program).is_file():
            print(f"bookfactory bench: there is no {program}", file=sys.stderr)
            return 2
        return subprocess.run([sys.executable, str(ROOT / program), *rest]).returncode
    module = importlib.import_module(program)
    shown, sys.argv[0] = sys.argv[0], f"bookfactory {command}"  # argparse's usage line
    try:
        return module.main(rest) or 0
    finally:
        sys.argv[0] = shown


if __name__ == "__main__":
    sys.exit(main())
