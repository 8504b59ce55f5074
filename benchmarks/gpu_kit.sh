#!/usr/bin/env bash
# The GPU half of the d2l-vs-cnncourse comparison, on a CUDA machine WITHOUT network access
# (such as the course's H100 test machine, which has its own PyTorch but no d2l, no IPython
# and no data). Two steps:
#
#   bash benchmarks/gpu_kit.sh prepare        # where pip works: wheels + data into .kit/
#   bash benchmarks/gpu_kit.sh run STAGE...   # on the GPU machine, from the repository root
#
# `run` installs the carried wheels into /tmp/site (the machine's own torch is kept), points
# CNNCOURSE_DATA at the carried Fashion-MNIST files and runs the stages named, in order:
#
#   check     versions, the GPU, and a one-epoch cnncourse LeNet run with and without a
#             CUDA graph (a minute at most; run it first)
#   lenet     d2l's LeNet-5, batch 256, lr 0.9, 10 epochs: d2l vs cnncourse, eager and graphed
#   variants  the LeNet chapter's other models, 5 epochs, one timed repeat each
#   alexnet   AlexNet at 224, batch 128, lr 0.01: 2 epochs, one timed repeat (d2l's loader
#             resizes every image with PIL, so each of its epochs takes a while)
#   full      scripts/train_alexnet.py in the full budget: the AlexNet chapter's GPU record
#   gpu-check every chapter notebook in the full budget (as the book build runs them), then
#             train_alexnet.py and short benchmarks: bookfactory/gpu_check.py, one summary in $OUT
#             (the command behind `make gpu-check`; about 7 minutes on one H100)
#
# Results land in cnncourse/results/ as usual, and are copied to $OUT
# when it is set (the device tool brings back what is under $OUT). Then, on the machine with
# the book: python -m bookfactory speed && python -m bookfactory build
set -euo pipefail
cd "$(dirname "$0")/.."
KIT=.kit

prepare() {
    mkdir -p "$KIT/wheels" "$KIT/data"
    rm -f "$KIT"/wheels/*.whl
    # pure-Python wheels for the GPU machine's Python 3.12: d2l (without its pins) and what
    # d2l.torch and cnncourse import that the machine lacks
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        --platform any -d "$KIT/wheels" \
        d2l==1.0.3 "ipython>=8.18,<9" matplotlib-inline traitlets decorator jedi parso \
        pexpect ptyprocess prompt_toolkit wcwidth stack_data executing asttokens pure_eval \
        tqdm
    # the notebook executor of bookfactory/gpu_check.py (nbclient + a Jupyter kernel), at the
    # versions the book build uses; pyzmq, tornado, psutil, debugpy and rpds-py are binary
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_5_x86_64 \
        --platform manylinux1_x86_64 --platform any -d "$KIT/wheels" \
        nbclient==0.11.0 nbformat==5.11.1 jupyter_client==8.10.0 jupyter_core==5.9.1 \
        ipykernel==7.4.0 comm==0.2.3 pyzmq==27.3.0 tornado==6.6.1 psutil==7.2.2 debugpy==1.8.22 \
        nest_asyncio==1.6.0 python-dateutil==2.9.0.post0 six==1.17.0 platformdirs==4.14.8 \
        packaging==26.2 fastjsonschema==2.22.3 jsonschema==4.26.0 \
        jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==0.30.0 attrs==26.1.0 \
        typing_extensions==4.15.0 pygments==2.20.0
    python - "$KIT/data" <<'EOF'
import shutil, sys
from pathlib import Path
import cnncourse
dest = Path(sys.argv[1])
for images, labels in cnncourse.find_fashion_mnist(download=False).values():
    for src in (Path(images), Path(labels)):
        shutil.copy2(src, dest / src.name)
        print("data:", dest / src.name)
EOF
    du -sh "$KIT"
    echo "carry: $KIT   (device tool: carry=[\"$KIT\"], command: bash benchmarks/gpu_kit.sh run check lenet)"
}

setup_run() {
    if [ ! -d "$KIT/wheels" ]; then
        echo "no $KIT/wheels: run 'bash benchmarks/gpu_kit.sh prepare' where pip works, and carry $KIT" >&2
        exit 2
    fi
    local site=/tmp/site
    if ! python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$site" "$KIT"/wheels/*.whl; then
        # wheels for another Python (the kit targets the GPU machine's 3.12): use what is here
        echo "gpu_kit: the carried wheels do not install on $(python3 -V); using the installed" \
             "packages and only the carried data" >&2
        site=
    fi
    # The machine's python3 has its own torch but not this checkout's cnncourse (nor, without
    # the kit, the notebook tools): both come from here, for the scripts and their kernels.
    export PYTHONPATH="${site:+$site:}$PWD${PYTHONPATH:+:$PYTHONPATH}"
    export CNNCOURSE_DATA="$PWD/$KIT/data" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
}

save() {  # copy result files to $OUT (at most two folders down, plain names)
    if [ -n "${OUT:-}" ]; then
        mkdir -p "$OUT/results"
        for f in "$@"; do [ -f "$f" ] && cp "$f" "$OUT/results/"; done
    fi
    return 0
}

stage() {
    local name=$1
    echo "=== $name ($(date -u +%H:%M:%S))"
    case "$name" in
    check)
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
        python3 - <<'EOF'
import time, torch, torchvision, cnncourse
from d2l import torch as d2l  # noqa: F401 -- the wheels installed
from cnncourse.models.lenet import lenet
print("torch", torch.__version__, "torchvision", torchvision.__version__,
      "cuda", torch.version.cuda, torch.cuda.get_device_name())
tr, te = cnncourse.load_data_fashion_mnist(256, download=False)
for graph in (False, True, False, True):
    torch.manual_seed(0)
    h = cnncourse.train_ch6(lenet(), tr, te, 2, 0.9, "cuda", cuda_graph=graph,
                            animate=False, verbose=False)
    print(f"cuda_graph={graph}: {h.examples_per_sec:,.0f} examples/s, epochs "
          f"{[round(s, 3) for s in h.epoch_seconds]} s, test acc {h.test_acc[-1]:.4f}, "
          f"{h.cuda_graph_replays} graph replays")
EOF
        ;;
    lenet)
        python3 benchmarks/bench_lenet.py --device cuda --epochs 10 --repeats 3
        python3 benchmarks/bench_lenet.py --device cuda --epochs 10 --repeats 3 --eager
        save cnncourse/results/lenet-cuda.json cnncourse/results/lenet-eager-cuda.json
        ;;
    variants)
        for m in lenet_gluon lenet_modern lenet_paddle cnn_paddle; do
            python3 benchmarks/bench_lenet.py --device cuda --model "$m" --epochs 5 --repeats 1
            save "cnncourse/results/$m-cuda-5ep.json"
        done
        ;;
    alexnet)
        python3 benchmarks/bench_alexnet.py --device cuda --epochs 2 --repeats 1
        save cnncourse/results/alexnet224-cuda-2ep.json
        ;;
    full)
        CNNCOURSE_BUDGET=full python3 scripts/train_alexnet.py
        save cnncourse/results/alexnet_full.json
        ;;
    gpu-check)
        # the summary, logs, results and executed notebooks go straight to $OUT when set
        python3 -m bookfactory gpu-check ${GPU_CHECK_ARGS:-}
        ;;
    *)
        echo "unknown stage '$name': use check, lenet, variants, alexnet, full or gpu-check" >&2
        exit 2
        ;;
    esac
}

case "${1:-}" in
prepare) prepare ;;
run)
    shift
    [ $# -gt 0 ] || set -- check
    setup_run
    for s in "$@"; do stage "$s"; done
    ;;
*)
    sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
