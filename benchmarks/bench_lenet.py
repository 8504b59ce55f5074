"""d2l vs cnncourse on LeNet (Fashion-MNIST 28x28), same model, data and device.

    python benchmarks/bench_lenet.py --device cpu --epochs 10 --repeats 3
    python benchmarks/bench_lenet.py --device cuda                       # on a GPU
    python benchmarks/bench_lenet.py --device cuda --model lenet_modern --lr 0.1

The default is d2l's LeNet-5 (sigmoid, average pooling) with d2l's settings:
batch 256, lr 0.9, 10 epochs. ``--model`` picks another builder of
``cnncourse.models.lenet`` (the LeNet chapter's variants); its results go to
``cnncourse/results/<model>-<device>.json``. See ``common.py`` for what is measured.
"""
from __future__ import annotations

import argparse

from common import Case, main  # this folder: first on sys.path when run as a script

from cnncourse.models import lenet as lenet_models

MODELS = tuple(lenet_models.__all__)

# What the appendix page checks a result against: the speed-up the course promises over d2l's
# own code (a reader who switches gains this much), with no loss of accuracy; "stretch" marks
# what it aims for beyond that. The CPU promise is for d2l's LeNet only.
TARGETS_D2L_LENET = {
    "cpu": [("ratio", ">=", 3.0, "cnncourse >= 3x d2l's examples/sec"),
            ("accuracy_ok", ">=", 1.0, "test accuracy no lower than d2l's worst run")],
    "cuda": [("ratio", ">=", 10.0, "cnncourse >= 10x d2l's examples/sec"),
             ("accuracy_ok", ">=", 1.0, "test accuracy no lower than d2l's worst run"),
             ("ratio", ">=", 15.0, "stretch: cnncourse >= 15x d2l's examples/sec"),
             ("examples_per_sec", ">=", 7e5, "stretch: >= 700,000 training examples/sec")],
}
TARGETS_VARIANT = {
    "cuda": [("accuracy_ok", ">=", 1.0, "test accuracy no lower than d2l's worst run")],
}


# d2l's lr for its sigmoid LeNets; the ReLU variants are trained with a smaller one.
DEFAULT_LR = {"lenet": 0.9, "lenet_gluon": 0.9}
RELU_LR = 0.1


def lenet_case(model: str = "lenet", batch_size: int = 256, lr: float | None = None,
               epochs: int = 10) -> Case:
    """The LeNet comparison (``model`` names a builder in ``cnncourse.models.lenet``)."""
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(MODELS)}")
    default_lr = DEFAULT_LR.get(model, RELU_LR)
    lr = default_lr if lr is None else lr
    standard = (batch_size, lr) == (256, default_lr)
    name = model if standard else f"{model}-b{batch_size}-lr{lr:g}"
    title = ("d2l's LeNet-5" if model == "lenet" else f"LeNet variant {model}")
    return Case(name=name, title=f"{title}, batch {batch_size}, lr {lr:g}",
                model=getattr(lenet_models, model),
                model_name=f"cnncourse.models.lenet.{model}",
                batch_size=batch_size, lr=lr, epochs=epochs,
                targets=TARGETS_D2L_LENET if (model == "lenet" and standard) else TARGETS_VARIANT)


if __name__ == "__main__":
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--model", default="lenet", choices=MODELS)
    pre.add_argument("--batch-size", type=int, default=256)
    pre.add_argument("--lr", type=float, default=None)
    known, rest = pre.parse_known_args()
    case = lenet_case(known.model, known.batch_size, known.lr)
    extra = [] if known.model == "lenet" else ["--model", known.model]
    if known.batch_size != 256:
        extra += ["--batch-size", str(known.batch_size)]
    if known.lr is not None:
        extra += ["--lr", f"{known.lr:g}"]
    main(case, "bench_lenet.py", rest, extra_args=extra,
         description=__doc__.splitlines()[0] + " (also: --model, --batch-size, --lr)")
