"""The speed benchmark's plumbing, on tiny fake data (only the plumbing: no speed is asserted).

The real comparison runs d2l's and cnncourse's pipelines on the real Fashion-MNIST for
minutes (benchmarks/bench_*.py); here every piece is run at a size that takes seconds:
both pipelines alternate on a small in-memory data set, the results file has what the
appendix page needs, the page and its chart are generated from it, and d2l's data path
(torchvision's raw-file layout) is built from IDX files. Also the CPU thread cap that
``train_ch6`` applies for speed.
"""
from __future__ import annotations

import importlib.util
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from torch import nn

import cnncourse
from cnncourse.models.lenet import lenet

ROOT = Path(__file__).resolve().parents[1]

HAS_D2L = importlib.util.find_spec("d2l") is not None
D2L_MISSING = ("d2l is not installed (only the benchmarks use it): bash benchmarks/install.sh "
               "enables this test")
needs_d2l = pytest.mark.skipif(not HAS_D2L, reason=D2L_MISSING)

N_TRAIN, N_TEST, BATCH = 320, 96, 32  # 10 train batches: d2l's Animator needs >= 5


def fake_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 10
    X = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
    X[torch.arange(n), y * 2, :] = 255  # a learnable mark: row 2*label is white
    return X, y


def fake_cnn_loaders(batch_size: int, resize):
    Xtr, ytr = fake_images(N_TRAIN, 0)
    Xte, yte = fake_images(N_TEST, 1)
    return (cnncourse.TensorLoader(Xtr, ytr, batch_size, shuffle=True, num_classes=10),
            cnncourse.TensorLoader(Xte, yte, batch_size, num_classes=10))


def fake_d2l_loaders(batch_size: int, resize):
    from torch.utils.data import DataLoader, TensorDataset
    (Xtr, ytr), (Xte, yte) = fake_images(N_TRAIN, 0), fake_images(N_TEST, 1)
    as_float = lambda X: X.unsqueeze(1).float() / 255  # noqa: E731 -- what ToTensor gives
    return (DataLoader(TensorDataset(as_float(Xtr), ytr), batch_size, shuffle=True),
            DataLoader(TensorDataset(as_float(Xte), yte), batch_size))


def tiny_case():
    import common
    return common.Case(name="tiny", title="tiny LeNet", model=lenet, model_name="lenet",
                       batch_size=BATCH, lr=0.9, epochs=1,
                       targets={"cpu": [("ratio", ">=", 0.0, "any ratio"),
                                        ("accuracy_ok", ">=", 1.0, "accuracy holds")]})


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    if not HAS_D2L:
        pytest.skip(D2L_MISSING)
    import common
    out = tmp_path_factory.mktemp("results") / "tiny-cpu.json"
    lines: list[str] = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # plumbing only; d2l's 2 threads crawl on a busy 2-core machine
    try:
        rec = common.run_benchmark(tiny_case(), "cpu", epochs=1, repeats=2, warmup_epochs=1,
                                   d2l_loaders=fake_d2l_loaders, cnn_loaders=fake_cnn_loaders,
                                   out=out, command="python benchmarks/bench_tiny.py",
                                   log=lines.append)
    finally:
        torch.set_num_threads(threads)
    return rec, out, lines


@needs_d2l
def test_runs_alternate_after_warmup_and_file_matches(record):
    rec, out, lines = record
    order = [(r["pipeline"], r["repeat"]) for r in rec["runs"]]
    assert order == [("d2l", -1), ("cnncourse", -1), ("d2l", 0), ("cnncourse", 0),
                     ("cnncourse", 1), ("d2l", 1)]
    on_disk = json.loads(out.read_text())
    assert on_disk["complete"] is True and on_disk["runs"] == rec["runs"]
    assert on_disk["summary"]["ratio"] == pytest.approx(rec["summary"]["ratio"])
    assert any("cnncourse / d2l" in line for line in lines)


@needs_d2l
def test_rates_accuracy_and_memory_are_consistent(record):
    rec, _, _ = record
    for r in rec["runs"]:
        assert r["num_train_examples"] == N_TRAIN
        assert r["examples_per_sec"] == pytest.approx(r["epochs"] * N_TRAIN / r["train_seconds"])
        assert 0.0 <= r["test_acc"] <= 1.0
        assert r["peak_memory_bytes"] is None or r["peak_memory_bytes"] >= 0
        assert r["memory_kind"] == "rss_delta+workers_uss"
    d2l_runs = [r for r in rec["runs"] if r["pipeline"] == "d2l"]
    # d2l's printed closing line was parsed.
    assert all(r["train_loss"] is not None and r["self_reported_examples_per_sec"] > 0
               for r in d2l_runs)
    s = rec["summary"]
    assert s["ratio"] == pytest.approx(s["cnncourse"]["examples_per_sec_median"]
                                       / s["d2l"]["examples_per_sec_median"])
    assert s["d2l"]["runs"] == 2 and s["cnncourse"]["runs"] == 2  # the warm-up is left out
    for rep, paired in enumerate(s["ratio_per_repeat"]):
        rate = {r["pipeline"]: r["examples_per_sec"] for r in rec["runs"] if r["repeat"] == rep}
        assert paired == pytest.approx(rate["cnncourse"] / rate["d2l"])
    assert len(s["ratio_per_repeat"]) == 2
    assert [t["met"] for t in s["targets"]][0] is True
    assert s["targets"][1]["met"] == s["accuracy_ok"]
    env = rec["environment"]
    assert env["torch"] == torch.__version__ and env["d2l"] and env["device"] == "cpu"


@needs_d2l
def test_d2l_display_is_silenced(capsys):
    import common
    d2l = common.import_d2l()
    anim = d2l.Animator(xlabel="epoch", legend=["a"])
    anim.add(1, (0.5,))
    import matplotlib.pyplot as plt
    plt.close("all")
    assert "Figure" not in capsys.readouterr().out


@needs_d2l
def test_accuracy_check_flags_a_worse_pipeline(record):
    import common
    rec, _, _ = record
    runs = [common.RunResult(**r) for r in rec["runs"]]
    for r in runs:
        r.test_acc = 0.9 if r.pipeline == "d2l" else 0.5
    s = common.summarize(tiny_case(), torch.device("cpu"), runs)
    assert s["accuracy_ok"] is False and s["targets"][1]["met"] is False


@needs_d2l
def test_page_and_chart_from_results(record, tmp_path):
    import make_speed_page
    rec, out, _ = record
    page, image = tmp_path / "speed.md", tmp_path / "images" / "speed.svg"
    assert make_speed_page.main(["--results", str(out.parent), "--out", str(page),
                                 "--image", str(image)]) == 0
    text = page.read_text()
    s = rec["summary"]
    assert text.startswith("# How fast is this code?")
    assert f"**{s['ratio']:.2f}x**" in text
    assert f"{s['cnncourse']['test_acc_mean']:.4f}" in text
    assert "No GPU measurement has been recorded yet" in text  # only a CPU record exists
    assert "python benchmarks/bench_tiny.py" in text and "```{image} images/speed.svg" in text
    assert "{figure}" not in text  # unnumbered: the book numbers figures across all pages
    assert rec["environment"]["commit"] and f"commit {rec['environment']['commit']}" in text
    blocks = [b for b in text.split("```")[1::2] if b.startswith("bash")]
    assert blocks
    for block in blocks:  # no code line runs past the page's right edge
        assert all(len(line) <= 72 for line in block.splitlines()), block
    root = ET.parse(image).getroot()
    assert root.tag.endswith("svg")
    svg = image.read_text()
    assert "cnncourse" in svg and "d2l" in svg
    # Regenerating from the same numbers gives the same files (no dates or random ids).
    make_speed_page.main(["--results", str(out.parent), "--out", str(page),
                          "--image", str(image)])
    assert image.read_text() == svg and page.read_text() == text


def test_page_without_results_says_nothing_was_measured(tmp_path):
    import make_speed_page
    page = tmp_path / "speed.md"
    make_speed_page.main(["--results", str(tmp_path / "none"), "--out", str(page),
                          "--image", str(tmp_path / "speed.svg")])
    text = page.read_text()
    assert "No results have been recorded yet" in text
    assert "No GPU measurement has been recorded yet" in text
    assert not (tmp_path / "speed.svg").exists()


def test_torchvision_layout_built_from_idx_files(tmp_path):
    from conftest import make_fake_copy
    import common
    from torchvision.datasets import FashionMNIST
    src = make_fake_copy(tmp_path / "src", n_train=30, n_test=12, gz=True)
    work = common.prepare_torchvision_root(tmp_path / "cache", data_root=src)
    assert work == tmp_path / "cache" / "work" and work.is_dir()
    ds = FashionMNIST(root=str(work.parent / "data"), train=False, download=False)
    Xte, yte = cnncourse.read_fashion_mnist("test", root=src)
    assert len(ds) == 12 and torch.equal(ds.data, Xte) and torch.equal(ds.targets, yte)
    # a second call reuses the files
    raw = tmp_path / "cache" / "data" / "FashionMNIST" / "raw" / "t10k-labels-idx1-ubyte"
    stamp = raw.stat().st_mtime_ns
    common.prepare_torchvision_root(tmp_path / "cache", data_root=src)
    assert raw.stat().st_mtime_ns == stamp


def test_cases_build_models_of_the_right_shape():
    import bench_alexnet
    import bench_lenet
    case = bench_lenet.lenet_case()
    assert (case.name, case.batch_size, case.lr, case.epochs) == ("lenet", 256, 0.9, 10)
    assert case.model()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert bench_lenet.lenet_case("lenet_modern").lr == bench_lenet.RELU_LR
    assert bench_lenet.lenet_case(batch_size=128).name == "lenet-b128-lr0.9"
    with pytest.raises(ValueError, match="unknown model"):
        bench_lenet.lenet_case("resnet")
    a = bench_alexnet.alexnet_case()
    assert (a.name, a.resize, a.batch_size, a.lr) == ("alexnet224", 224, 128, 0.01)
    with torch.no_grad():
        assert a.model().eval()(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


def test_limit_cpu_threads_for_hand_written_loops():
    before = torch.get_num_threads()
    with cnncourse.limit_cpu_threads("cpu", 1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with cnncourse.limit_cpu_threads("cuda", 1):  # only the CPU is capped
        assert torch.get_num_threads() == before


def test_cpu_threads_must_be_positive():
    tr, te = fake_cnn_loaders(64, None)
    net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    with pytest.raises(ValueError, match="cpu_threads"):
        cnncourse.train_ch6(net, tr, te, 1, 0.1, "cpu", animate=False, cpu_threads=0)


def test_cnncourse_options_reach_train_ch6(monkeypatch):
    # --cuda-graph becomes Case.cnn_options; cnncourse's run must pass it on (d2l's must not)
    import common
    seen = {}
    real = cnncourse.train_ch6

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(cnncourse, "train_ch6", spy)
    case = tiny_case()
    case.cnn_options = {"cuda_graph": True}
    r = common.run_cnncourse(case, torch.device("cpu"), 1, 0, 0, fake_cnn_loaders)
    assert seen["cuda_graph"] is True
    assert r.pipeline == "cnncourse" and r.num_train_examples == N_TRAIN


def test_published_gpu_results_against_todays_targets():
    """The H100 files in cnncourse/results/, checked against the benchmarks' targets of today."""
    import bench_lenet
    import common

    def check(name: str, table: dict) -> dict:
        rec = json.loads((ROOT / "cnncourse" / "results" / f"{name}-cuda.json").read_text())
        assert rec["device_type"] == "cuda" and rec["provenance"]["commit"]
        measured = common.measured_values(rec["summary"])
        return {t["what"]: t for t in common.check_targets(table["cuda"], measured)}

    graphed = check("lenet-graph", bench_lenet.TARGETS_D2L_LENET)
    ten = graphed["cnncourse >= 10x d2l's examples/sec"]
    assert ten["met"] is True and ten["measured"] > 10
    eager = check("lenet", bench_lenet.TARGETS_D2L_LENET)
    assert eager["cnncourse >= 10x d2l's examples/sec"]["met"] is False  # eager: about 3x


def test_thread_benchmark_plumbing(monkeypatch, tmp_path):
    """bench_threads.py at a tiny size: one run under a busy loop, and the summary."""
    import bench_threads

    monkeypatch.setattr(bench_threads, "make_cnn_loaders", fake_cnn_loaders)
    r = bench_threads.one_run(None, "busy", 1, 0.0, 0)
    assert r["examples_per_sec"] == pytest.approx(N_TRAIN / r["seconds"])
    assert len(r["threads_per_epoch"]) == 1 and r["threads_per_epoch"][0] >= 1
    runs = [dict(r, situation=s, threads=t, examples_per_sec=rate)
            for s, rates in (("quiet", (100, 200, 190)), ("busy", (100, 20, 80)))
            for t, rate in zip((1, 2, None), rates)]
    summary = bench_threads.summarize(runs)
    quiet = summary["quiet"]
    assert quiet["within_10_percent"] and quiet["default_vs_best_fixed"] == 0.95
    assert not summary["busy"]["within_10_percent"]  # 80 is more than 10 % below 100
    assert "changes" not in summary  # no runs: no row


def test_cnncourse_order_follows_the_run_seed(monkeypatch):
    """cnncourse's loader shuffles from a generator of its own, which torch.manual_seed does
    not touch: the benchmark passes each run's seed to it, as d2l's order follows the seed."""
    import common
    seen = []

    def spy(batch_size, resize=None, **kwargs):
        seen.append(kwargs.get("seed"))
        return fake_cnn_loaders(batch_size, resize)

    monkeypatch.setattr(cnncourse, "load_data_fashion_mnist", spy)
    common.run_cnncourse(tiny_case(), torch.device("cpu"), 1, 0, 3)
    common.run_cnncourse(tiny_case(), torch.device("cpu"), 1, 1, 4)
    assert seen == [3, 4]


@needs_d2l
def test_swap_trains_each_loop_on_each_loader(tmp_path):
    """bench_swap.py at a tiny size: on one loader and seed the two loops train alike, and a
    rerun replaces its older record."""
    import bench_swap
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        runs = {(loop, data): bench_swap.swap_run(loop, data, 0, 0, 2, torch.device("cpu"),
                                                  case=tiny_case(), loaders=fake)
                for loop in bench_swap.PIPELINES
                for data, fake in (("d2l", fake_d2l_loaders), ("cnncourse", fake_cnn_loaders))}
    finally:
        torch.set_num_threads(threads)
    for data in bench_swap.PIPELINES:
        d2l_loop, cnn_loop = runs[("d2l", data)], runs[("cnncourse", data)]
        assert len(d2l_loop["test_acc_per_epoch"]) == 2
        assert d2l_loop["test_acc_per_epoch"] == pytest.approx(cnn_loop["test_acc_per_epoch"])
        assert d2l_loop["train_loss"] == pytest.approx(cnn_loop["train_loss"], abs=6e-4)
    assert runs[("d2l", "d2l")]["data_seed"] is None  # d2l's order follows the seed
    assert runs[("d2l", "cnncourse")]["data_seed"] == 0
    out = tmp_path / "swap.json"
    bench_swap.merge_runs(out, list(runs.values()), {"case": "lenet-swap"}, "first")
    rerun = dict(runs[("d2l", "d2l")], test_acc=0.5)
    rec = bench_swap.merge_runs(out, [rerun], {"case": "lenet-swap"}, "second")
    assert len(rec["runs"]) == 4 and rec["commands"] == ["first", "second"]
    assert [r["test_acc"] for r in rec["runs"] if (r["loop"], r["data"]) == ("d2l", "d2l")] == [0.5]
    with pytest.raises(ValueError, match="loop and data"):
        bench_swap.swap_run("keras", "d2l", 0, 0, 1, torch.device("cpu"), case=tiny_case())
