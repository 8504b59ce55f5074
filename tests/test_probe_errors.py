"""The bad-input probe table (scripts/probe_errors.py) and the defects its first run found."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import cnncourse
from cnncourse.attribution import grad_cam

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    sys.path.insert(0, str(ROOT / "scripts"))
    spec = importlib.util.spec_from_file_location("probe_errors", ROOT / "scripts" /
                                                  "probe_errors.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["probe_errors"] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_the_table_covers_every_category_with_unique_names():
    script = load_script()
    names = [p.name for p in script.PROBES]
    assert len(names) == len(set(names)) >= 120
    assert {p.category for p in script.PROBES} == set(script.CATEGORIES)
    rows = [{"category": "lost work", "ok": True}, {"category": "lost work", "ok": False}]
    assert "lost work          |     2 |           1 |       1" in script.table(rows)


@pytest.mark.skipif(not Path("/usr/share/datasets/fashion-mnist").is_dir(),
                    reason="the probes read Debian's Fashion-MNIST files")
def test_a_probe_runs_in_its_own_process_and_a_crash_is_a_defect(tmp_path):
    script = load_script()
    good = script.run_probe(script.Probe("ok", "silently wrong", "t", "e",
                                         lambda tmp: ("fine", True)), tmp_path)
    bad = script.run_probe(script.Probe("boom", "silently wrong", "t", "e",
                                        lambda tmp: 1 / 0), tmp_path)
    slow = script.run_probe(script.Probe("slow", "silently wrong", "t", "e",
                                         lambda tmp: __import__("time").sleep(30), timeout=1),
                            tmp_path)
    assert (good["ok"], good["observed"]) == (True, "fine")
    assert not bad["ok"] and "ZeroDivisionError" in bad["observed"]
    assert not slow["ok"] and "timed out" in slow["observed"]
    assert not list(tmp_path.iterdir())  # each probe's folder removed


# --- defects found by the first run of the table, each fixed


@pytest.mark.parametrize("label", [-1, 10, 3.7, True, "3"])
def test_a_label_that_is_no_class_gets_no_class_name(label):
    # before: -1 was 'ankle boot' (negative indexing) and 3.7 was 'dress' (int(3.7))
    with pytest.raises(ValueError, match="label|class index"):
        cnncourse.get_fashion_mnist_labels([0, label])
    assert cnncourse.get_fashion_mnist_labels(torch.tensor([3, 9], dtype=torch.uint8)) == [
        "dress", "ankle boot"]


def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 3))


def tiny_data():
    X, y = torch.rand(8, 1, 2, 2), torch.arange(8) % 3
    return [(X[:4], y[:4]), (X[4:], y[4:])], [(X, y)]


def test_a_loss_that_is_not_a_function_is_refused_before_the_weights_change():
    # before: TypeError "'str' object is not callable" after the Xavier init
    net = small_net()
    before = [p.clone() for p in net.parameters()]
    train_iter, test_iter = tiny_data()
    with pytest.raises(TypeError, match="loss must be a function"):
        cnncourse.train_ch6(net, train_iter, test_iter, 1, 0.1, "cpu", loss="mse",
                            animate=False, verbose=False)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_missing_gpu_is_named_before_the_weights_change():
    # before: "invalid argument to reset_peak_memory_stats"
    net = small_net()
    before = [p.clone() for p in net.parameters()]
    train_iter, test_iter = tiny_data()
    with pytest.raises(ValueError, match="try_gpu"):
        cnncourse.train_ch6(net, train_iter, test_iter, 1, 0.1, "cuda", animate=False,
                            verbose=False)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_grad_cam_works_inside_inference_mode():
    # before: "Inference tensors cannot be saved for backward" (the target, made there)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(),
                        nn.Linear(2 * 8 * 8, 3)).eval()
    x = torch.rand(2, 1, 8, 8)
    outside = grad_cam(net, x, 1, layer="1")
    with torch.inference_mode():
        inside = grad_cam(net, x.clone(), 1, layer="1")
    assert torch.allclose(outside, inside)
