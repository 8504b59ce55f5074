"""Training helpers: accuracy, evaluation, train_ch6 and its error paths; budgets; devices."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import cnncourse
from cnncourse.data import TensorLoader
from cnncourse.models.lenet import lenet

from conftest import needs_real_data


def toy_loaders(n=256, batch_size=64, num_classes=10, seed=0):
    """A learnable toy problem: the class is which horizontal band of the image is bright."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, num_classes, (n,), generator=g)
    X = torch.randint(0, 40, (n, 28, 28), generator=g, dtype=torch.uint8)
    for i, c in enumerate(y.tolist()):
        X[i, 2 * c + 4: 2 * c + 7, :] = 250
    tr = TensorLoader(X, y, batch_size, shuffle=True, seed=seed, num_classes=num_classes)
    te = TensorLoader(X.clone(), y.clone(), batch_size, num_classes=num_classes)
    return tr, te


def small_net(out=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Linear(32, out))


def test_accuracy_counts_correct_predictions():
    y_hat = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert int(cnncourse.accuracy(y_hat, torch.tensor([1, 0, 0]))) == 2
    assert int(cnncourse.accuracy(torch.tensor([2, 1]), torch.tensor([2, 2]))) == 1


def test_evaluate_accuracy_gpu_matches_manual():
    torch.manual_seed(0)
    net = small_net()
    _, te = toy_loaders()
    with torch.no_grad():
        manual = (net(te.images.unsqueeze(1).float() / 255).argmax(1) == te.labels).float().mean()
    assert cnncourse.evaluate_accuracy_gpu(net, te) == pytest.approx(float(manual))


def test_train_ch6_learns_and_returns_history(capsys):
    torch.manual_seed(0)
    tr, te = toy_loaders()
    hist = cnncourse.train_ch6(small_net(), tr, te, 4, 0.5, "cpu", animate=False)
    assert hist.epochs == 4 and len(hist.test_acc) == 4 and len(hist.epoch_seconds) == 4
    assert hist.train_loss[-1] < hist.train_loss[0] * 0.5
    assert hist.test_acc[-1] > 0.9
    assert hist.num_train_examples == 256 and hist.examples_per_sec > 0
    out = capsys.readouterr().out
    assert "training on cpu (budget:" in out
    assert f"test acc {hist.test_acc[-1]:.3f}" in out and "examples/sec on cpu" in out


def test_train_ch6_adam_and_no_init():
    torch.manual_seed(0)
    tr, te = toy_loaders()
    hist = cnncourse.train_ch6(small_net(), tr, te, 2, 1e-2, "cpu", optimizer="adam",
                               init=None, animate=False, verbose=False)
    assert hist.train_loss[1] < hist.train_loss[0]
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        cnncourse.train_ch6(small_net(), tr, te, 1, 0.1, "cpu", optimizer="rmsprop",
                            animate=False, verbose=False)


def test_wrong_output_width_is_caught_before_training():
    tr, te = toy_loaders()
    with pytest.raises(ValueError, match=r"last layer has 5 outputs but the data has 10 classes"):
        cnncourse.train_ch6(small_net(out=5), tr, te, 1, 0.1, "cpu", animate=False)


def test_missing_flatten_is_explained():
    tr, te = toy_loaders()
    net = nn.Sequential(nn.Conv2d(1, 10, 3))
    with pytest.raises(ValueError, match="nn.Flatten"):
        cnncourse.train_ch6(net, tr, te, 1, 0.1, "cpu", animate=False)


def test_divergence_names_epoch_and_keeps_history():
    torch.manual_seed(0)
    tr, te = toy_loaders()
    with pytest.raises(cnncourse.DivergenceError, match=r"epoch \d+ \(lr=1e\+06\).*smaller lr") as e:
        cnncourse.train_ch6(small_net(), tr, te, 5, 1e6, "cpu", animate=False, verbose=False)
    assert e.value.history.epochs < 5


def test_ctrl_c_returns_history_so_far(capsys):
    tr, te = toy_loaders()
    calls = {"n": 0}

    class Interrupting(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = small_net()

        def forward(self, x):
            if self.training:
                calls["n"] += 1
                if calls["n"] > len(tr) * 2:  # third epoch
                    raise KeyboardInterrupt
            return self.body(x)

    hist = cnncourse.train_ch6(Interrupting(), tr, te, 5, 0.5, "cpu", animate=False)
    assert hist.interrupted and hist.epochs == 2
    assert "returning the 2 finished epoch(s)" in capsys.readouterr().out


def test_oom_becomes_advice():
    from cnncourse.train import _oom_message

    msg = _oom_message(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried 2 GiB"), 128)
    assert "smaller batch size than 128" in msg and "CUDA out of memory" in msg


def test_budget_choice(monkeypatch):
    monkeypatch.setenv("CNNCOURSE_BUDGET", "smoke")
    b = cnncourse.budget()
    assert b.name == "smoke" and b.pick(smoke=1, cpu=2, full=3) == 1
    monkeypatch.setenv("CNNCOURSE_BUDGET", "FULL")
    assert cnncourse.budget().pick(smoke=1, cpu=2, full=3) == 3
    monkeypatch.delenv("CNNCOURSE_BUDGET")
    assert cnncourse.budget().name == ("full" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("CNNCOURSE_BUDGET", "huge")
    with pytest.raises(ValueError, match="'huge' is not a budget; use one of smoke, cpu, full"):
        cnncourse.budget()


def test_devices_fall_back_to_cpu_without_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    import cnncourse.device as dev

    monkeypatch.setattr(dev, "_mps_available", lambda: False)
    assert cnncourse.try_gpu() == torch.device("cpu")
    assert cnncourse.try_all_gpus() == [torch.device("cpu")]
    monkeypatch.setattr(dev, "_mps_available", lambda: True)
    assert cnncourse.try_gpu() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert cnncourse.try_gpu(1) == torch.device("cuda:1")
    assert cnncourse.try_all_gpus() == [torch.device("cuda:0"), torch.device("cuda:1")]


def test_animator_outside_a_notebook_draws_nothing_but_can_save(tmp_path):
    anim = cnncourse.Animator(xlabel="epoch", legend=["a", "b"])
    assert not anim.live
    anim.add(1, (0.5, None))
    anim.add(2, (0.25, 0.75))
    assert anim.X == [[1, 2], [2]] and anim.Y == [[0.5, 0.25], [0.75]]
    anim.savefig(tmp_path / "curves.svg")
    assert (tmp_path / "curves.svg").read_text().lstrip().startswith("<?xml")


def test_layer_summary_and_flops(capsys):
    rows = cnncourse.layer_summary(lenet(), (1, 1, 28, 28))
    assert [r.output_shape for r in rows if r.name in ("AvgPool2d", "Flatten")] == [
        (1, 6, 14, 14), (1, 16, 5, 5), (1, 400)]
    assert sum(r.num_params for r in rows) == cnncourse.count_parameters(lenet()) == 61706
    assert "61,706" in capsys.readouterr().out
    # conv1: 2*25*6*28*28, conv2: 2*150*16*10*10, dense: 2*(400*120+120*84+84*10)
    assert cnncourse.count_flops(lenet(), (1, 1, 28, 28)) == (
        2 * 25 * 6 * 784 + 2 * 150 * 16 * 100 + 2 * (48000 + 10080 + 840))
    with pytest.raises(TypeError, match="nn.Sequential"):
        cnncourse.layer_summary(nn.Linear(2, 2), (1, 2))


@needs_real_data
def test_d2l_lenet_reaches_70_percent_in_10_epochs_on_real_data():
    """The foundation's promise: d2l's settings (lr 0.9, batch 256, Xavier, SGD) on this CPU."""
    torch.manual_seed(0)
    train_iter, test_iter = cnncourse.load_data_fashion_mnist(256)
    hist = cnncourse.train_ch6(lenet(), train_iter, test_iter, 10, 0.9, cnncourse.try_gpu(),
                               animate=False)
    assert hist.test_acc[-1] >= 0.70, hist.summary()
    assert hist.train_loss[-1] < hist.train_loss[0]


def _near_tie_problem():
    """Random labels and a model whose ten scores differ only in the 4th digit.

    bf16 keeps about 3 significant digits, so evaluating it under autocast changes
    which score is largest for some images: a test pass in another precision than
    ``evaluate_accuracy_gpu`` would report another accuracy.
    """
    g = torch.Generator().manual_seed(0)
    X = torch.randint(0, 256, (1000, 28, 28), generator=g, dtype=torch.uint8)
    y = torch.randint(0, 10, (1000,), generator=g)
    tr = TensorLoader(X, y, 250, shuffle=True, num_classes=10)
    te = TensorLoader(X.clone(), y.clone(), 250, num_classes=10)
    torch.manual_seed(0)
    net = small_net(out=10)
    with torch.no_grad():
        net[-1].weight.mul_(0.05)
        net[-1].bias.fill_(20.0)
    return net, tr, te


def test_reported_test_accuracy_is_what_evaluate_accuracy_gpu_returns(capsys):
    net, tr, te = _near_tie_problem()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        bf16 = cnncourse.evaluate_accuracy_gpu(net, te)
    assert bf16 != cnncourse.evaluate_accuracy_gpu(net, te)  # the problem tells them apart
    hist = cnncourse.train_ch6(net, tr, te, 2, 1e-4, "cpu", init=None, mixed_precision=True,
                               animate=False)
    after = cnncourse.evaluate_accuracy_gpu(net, te)
    assert hist.test_acc[-1] == after
    assert f"test acc {after:.3f}" in capsys.readouterr().out


def test_compile_trains_or_falls_back_with_a_clear_message(monkeypatch):
    import torch._dynamo.exc as dynamo_exc

    class FailsToCompile(nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, x):
            raise dynamo_exc.TorchDynamoException("no C++ compiler found")

    monkeypatch.setattr(torch, "compile", lambda net: FailsToCompile(net))
    runs = []
    for compile_ in (False, True):
        torch.manual_seed(0)
        tr, te = toy_loaders()
        if compile_:
            with pytest.warns(RuntimeWarning, match=r"compile=True, but torch.compile failed "
                                                    r"\(TorchDynamoException: no C\+\+ compiler"):
                runs.append(cnncourse.train_ch6(small_net(), tr, te, 2, 0.5, "cpu",
                                                compile=True, animate=False, verbose=False))
        else:
            runs.append(cnncourse.train_ch6(small_net(), tr, te, 2, 0.5, "cpu",
                                            animate=False, verbose=False))
    assert not runs[1].compiled and runs[1].compile_seconds is not None
    assert runs[1].train_loss == runs[0].train_loss  # the failed batch was trained once, eagerly


def test_governor_follows_the_load(monkeypatch):
    from cnncourse import train

    before = torch.get_num_threads()
    clock = {"t": 100.0}
    monkeypatch.setattr(train.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(train.os, "cpu_count", lambda: 2)
    tick = train.os.sysconf("SC_CLK_TCK")
    state = {"total": 0, "idle": 0, "own": 0.0}
    monkeypatch.setattr(train._ThreadGovernor, "_read",
                        staticmethod(lambda: (state["total"], state["idle"], state["own"])))

    def second(others: float, own: float) -> None:  # one second of 2 CPUs
        clock["t"] += 1.0
        state["total"] += 2 * tick
        state["own"] += own
        state["idle"] += round((2 - others - own) * tick)

    try:
        torch.set_num_threads(2)
        gov = train._ThreadGovernor(most=2)
        second(others=1.0, own=1.0)  # another process keeps a CPU busy
        gov.check()
        assert torch.get_num_threads() == 1 and gov.changes == 1
        second(others=0.0, own=1.0)  # it stopped
        gov.check()
        assert torch.get_num_threads() == 2 and gov.changes == 2
        clock["t"] += 0.5  # within the interval nothing is read or changed
        state["idle"] = state["total"] = -1
        gov.check()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_progress_bar_only_for_long_epochs(monkeypatch):
    from cnncourse.progress import EpochProgress

    shown = []

    class Handle:
        def update(self, bundle, raw=False):
            shown.append(bundle["text/plain"])

    def display(bundle, raw=False, display_id=False):
        shown.append(bundle["text/plain"])
        return Handle()

    import IPython.display
    monkeypatch.setattr(IPython.display, "display", display)
    clock = {"t": 0.0}
    for per_batch, expect_bar in ((0.01, False), (0.1, True)):  # 100 batches: 1 s or 10 s
        shown.clear()
        bar = EpochProgress(2, 100, min_seconds=5.0, notebook=True, clock=lambda: clock["t"])
        for epoch in range(2):
            bar.start(epoch)
            for _ in range(100):
                clock["t"] += per_batch
                bar.update(256)
            bar.end()
        bar.close()
        assert bar.shown is expect_bar
        if expect_bar:
            assert "epoch 2/2" in shown[-1] and "100/100 batches" in shown[-1]
            assert "2,560 examples/s" in shown[-1], shown[-1]
            assert ", ," not in shown[-1] and shown[-1].endswith("examples/s]"), shown[-1]
        else:
            assert shown == []


@pytest.mark.slow
@pytest.mark.skipif(__import__("shutil").which("g++") is None and
                    __import__("shutil").which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compile_really_compiles_on_the_cpu():
    """torch.compile at a tiny size (about a minute of compiling on a busy 2-core CPU)."""
    runs = []
    for compile_ in (False, True):
        torch.manual_seed(0)
        tr, te = toy_loaders()
        runs.append(cnncourse.train_ch6(small_net(), tr, te, 2, 0.5, "cpu", compile=compile_,
                                        animate=False, verbose=False))
    assert runs[1].compiled and runs[1].compile_seconds > 0
    assert runs[0].compile_seconds is None and not runs[0].compiled
    assert runs[1].train_loss == pytest.approx(runs[0].train_loss, rel=1e-4)
    assert runs[1].test_acc == runs[0].test_acc  # evaluated by the plain model, in float32
