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
    with pytest.raises(cnncourse.DivergenceError,
                       match=r"epoch \d+ \(SGD at lr=1e\+06\).*smaller lr") as e:
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


# --- what the run did is recorded, and decided without looking at the machine's load ---

def test_history_records_the_plan():
    torch.manual_seed(0)
    tr, te = toy_loaders()
    hist = cnncourse.train_ch6(small_net(), tr, te, 1, 0.5, "cpu", animate=False, verbose=False)
    plan = hist.plan
    assert (plan.device, plan.mixed_precision, plan.channels_last, plan.cuda_graph,
            plan.compile) == ("cpu", False, True, False, False)
    assert plan.cpu_threads == torch.get_num_threads()
    assert plan.as_dict()["channels_last"] is True
    gpu = cnncourse.RunPlan.decide("cuda")  # only the device type is looked at
    assert gpu.mixed_precision and gpu.channels_last and gpu.cuda_graph and gpu.cpu_threads is None
    assert not cnncourse.RunPlan.decide("mps").channels_last


def _busy_loop():
    import subprocess
    import sys
    import time
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    return proc


def _tiny_conv_run():
    torch.manual_seed(0)
    tr, te = toy_loaders(n=128, batch_size=32)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 14 * 14, 10))
    return cnncourse.train_ch6(net, tr, te, 2, 0.1, "cpu", animate=False, verbose=False)


def test_the_same_seed_gives_the_same_numbers_under_load(monkeypatch):
    import builtins
    import os

    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: (opened.append(str(f)),
                                                               real_open(f, *a, **k))[1])
    monkeypatch.setattr(os, "getloadavg", lambda: pytest.fail("train_ch6 read the load"))
    quiet = _tiny_conv_run()
    proc = _busy_loop()
    try:
        busy = _tiny_conv_run()
    finally:
        proc.terminate()
        proc.wait()
    assert not [f for f in opened if f.startswith("/proc")], opened
    assert busy.plan == quiet.plan
    assert busy.train_loss == quiet.train_loss and busy.test_acc == quiet.test_acc


class ThreadSpy(nn.Module):
    """A small net that notes PyTorch's thread count at every training forward pass and
    every test pass (not at train_ch6's output check, which runs before training starts)."""

    def __init__(self):
        super().__init__()
        self.body = small_net()
        self.seen: list[int] = []
        self.started = False

    def forward(self, x):
        self.started = self.started or self.training
        if self.started:
            self.seen.append(torch.get_num_threads())
        return self.body(x)


def test_too_many_cpu_threads_are_capped_with_a_warning(monkeypatch):
    import cnncourse.plan as plan_mod

    monkeypatch.setattr(plan_mod.os, "cpu_count", lambda: 2)
    before = torch.get_num_threads()
    spy = ThreadSpy()
    tr, te = toy_loaders(n=64)
    with pytest.warns(RuntimeWarning, match=r"cpu_threads=64, but this machine has 2 logical "
                                            r"CPUs; using 2") as w:
        hist = cnncourse.train_ch6(spy, tr, te, 1, 0.1, "cpu", cpu_threads=64,
                                   animate=False, verbose=False)
    assert w[0].filename == __file__  # the warning points at the call
    assert hist.plan.cpu_threads == 2 and set(spy.seen) == {2}
    assert torch.get_num_threads() == before
    with pytest.raises(TypeError, match="cpu_threads must be a whole number"):
        cnncourse.train_ch6(small_net(), tr, te, 1, 0.1, "cpu", cpu_threads=1.5, animate=False)


def test_explicit_cpu_threads_hold_while_training_and_are_restored():
    before = torch.get_num_threads()
    spy = ThreadSpy()
    tr, te = toy_loaders(n=64)
    cnncourse.train_ch6(spy, tr, te, 1, 0.1, "cpu", cpu_threads=1, animate=False,
                        verbose=False)
    assert set(spy.seen) == {1} and torch.get_num_threads() == before
    with cnncourse.limit_cpu_threads("cpu", 1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


# --- bad input: a clear error before any work, never a silent or a raw failure ---

def test_an_empty_training_set_is_refused():
    _, te = toy_loaders()
    with pytest.raises(ValueError, match="train_iter has no batches"):
        cnncourse.train_ch6(small_net(), [], te, 2, 0.1, "cpu", animate=False, verbose=False)


def test_a_one_shot_iterator_is_refused_before_training():
    tr, te = toy_loaders()
    batches = (b for b in list(tr))
    with pytest.raises(TypeError, match=r"train_iter is a one-shot iterator \(generator\).*"
                                        r"first of 3 epochs"):
        cnncourse.train_ch6(small_net(), batches, te, 3, 0.1, "cpu", animate=False)
    with pytest.raises(TypeError, match="test_iter is a one-shot iterator"):
        cnncourse.train_ch6(small_net(), tr, iter(list(te)), 2, 0.1, "cpu", animate=False)
    # one epoch over a generator is fine: it is iterated once
    hist = cnncourse.train_ch6(small_net(), (b for b in list(tr)), te, 1, 0.1, "cpu",
                               animate=False, verbose=False)
    assert hist.epochs == 1 and hist.num_train_examples == 256


def test_evaluating_nothing_is_an_error():
    with pytest.raises(ValueError, match="evaluate_accuracy_gpu got no batches"):
        cnncourse.evaluate_accuracy_gpu(small_net(), [])
    with pytest.raises(ValueError, match="evaluate_loss got no batches"):
        cnncourse.evaluate_loss(small_net(), [], nn.CrossEntropyLoss())


@pytest.mark.parametrize("num_epochs, lr, error, match", [
    (-1, 0.1, ValueError, "num_epochs must be at least 1, not -1"),
    (0, 0.1, ValueError, "num_epochs must be at least 1, not 0"),
    (1.5, 0.1, TypeError, "num_epochs must be a whole number, such as 10, not 1.5"),
    (2, "0.1", TypeError, r"lr \(the learning rate\) must be a number >= 0, such as 0.9, "
                          r"not '0.1'"),
    (2, float("nan"), TypeError, "lr .* not nan"),
])
def test_bad_epochs_or_lr_are_named(num_epochs, lr, error, match):
    tr, te = toy_loaders()
    with pytest.raises(error, match=match):
        cnncourse.train_ch6(small_net(), tr, te, num_epochs, lr, "cpu", animate=False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_a_model_in_another_precision_is_named(dtype):
    tr, te = toy_loaders()
    with pytest.raises(TypeError, match=rf"parameters are {dtype}.*call net.float\(\)"):
        cnncourse.train_ch6(small_net().to(dtype), tr, te, 1, 0.1, "cpu", animate=False)


def test_a_model_without_parameters_is_named():
    tr, te = toy_loaders()
    with pytest.raises(ValueError, match="the model has no parameters"):
        cnncourse.train_ch6(nn.Flatten(), tr, te, 1, 0.1, "cpu", animate=False)


def test_unknown_speed_option_is_a_type_error():
    tr, te = toy_loaders()
    with pytest.raises(TypeError, match="cuda_grpah"):
        cnncourse.train_ch6(small_net(), tr, te, 1, 0.1, "cpu", cuda_grpah=True, animate=False)


# --- what is shown ---

def test_the_curves_x_axis_starts_at_zero(monkeypatch):
    import cnncourse.progress as progress

    made = []

    class Recording(cnncourse.Animator):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    for module in (progress, cnncourse.train):  # wherever the loop builds its figure
        monkeypatch.setattr(module, "Animator", Recording, raising=False)
    torch.manual_seed(0)
    tr, te = toy_loaders()  # 4 batches per epoch: points at 0.25, 0.5, ... 2.0
    cnncourse.train_ch6(small_net(), tr, te, 2, 0.5, "cpu", verbose=False)
    anim = made[0]
    anim._render()
    left, right = anim.axes[0].get_xlim()
    assert (left, right) == (0, 2)
    assert min(anim.X[0]) == 0.25 and max(x for xs in anim.X for x in xs) == 2


def test_history_repr_is_one_short_line():
    """A d2l notebook cell ending in ``d2l.train_ch6(...)`` displays the history: keep it short."""
    from cnncourse.train import TrainHistory

    hist = TrainHistory(device="cpu")
    assert repr(hist) == "TrainHistory(0 epochs on cpu)"
    hist.add_epoch(0.5, 0.8, 0.75, 1.0, 100)
    assert repr(hist) == "TrainHistory(1 epoch on cpu, test acc 0.750)"


# --- nothing lost: the model is checked before it is touched; every error keeps the epochs ---

def _weights(net):
    return [p.detach().clone() for p in net.parameters()]


def _unchanged(net, before):
    return all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_a_frozen_model_is_refused_before_its_weights_are_touched():
    tr, te = toy_loaders()
    net = small_net().requires_grad_(False)
    before = _weights(net)
    with pytest.raises(ValueError, match=r"every parameter of the model is frozen"):
        cnncourse.train_ch6(net, tr, te, 1, 0.1, "cpu", animate=False, verbose=False)
    assert _unchanged(net, before)  # before the fix the Xavier init had replaced them


def test_frozen_pretrained_layers_are_not_reinitialised():
    tr, te = toy_loaders()
    net = small_net()
    net[1].requires_grad_(False)  # a "pretrained" first layer, the head trains
    before = _weights(net)
    with pytest.raises(ValueError, match=r"init='xavier' would overwrite the weights of frozen "
                                         r"layers \('1'.*init=None"):
        cnncourse.train_ch6(net, tr, te, 1, 0.1, "cpu", animate=False, verbose=False)
    assert _unchanged(net, before)
    hist = cnncourse.train_ch6(net, tr, te, 1, 0.1, "cpu", init=None, animate=False,
                               verbose=False)
    assert hist.epochs == 1 and torch.equal(net[1].weight, before[0])


@pytest.mark.parametrize("bad, match", [
    (dict(out=5), "last layer has 5 outputs but the data has 10 classes"),
    (dict(optimizer="rmsprop"), "unknown optimizer 'rmsprop'"),
    (dict(init="he"), "unknown init 'he'"),
])
def test_refusals_leave_the_model_as_it_was(bad, match):
    tr, te = toy_loaders()
    net = small_net(out=bad.pop("out", 10))
    before = _weights(net)
    with pytest.raises(ValueError, match=match):
        cnncourse.train_ch6(net, tr, te, 1, 0.1, "cpu", animate=False, verbose=False, **bad)
    assert _unchanged(net, before)


def test_the_output_check_does_not_change_the_run():
    """The check reads one test batch before the init: same numbers as without it."""
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        tr, te = toy_loaders()
        runs.append(cnncourse.train_ch6(small_net(), tr, te, 2, 0.5, "cpu", animate=False,
                                        verbose=False).train_loss)
    torch.manual_seed(0)
    net = small_net()
    net.apply(cnncourse.init_weights)
    tr, te = toy_loaders()
    plain = cnncourse.train_ch6(net, tr, te, 2, 0.5, "cpu", init=None, animate=False,
                                verbose=False).train_loss
    assert runs[0] == runs[1] == plain


class FailingLoader:
    """Re-iterable batches that raise ``error`` once the ``fail_at``-th batch is asked for."""

    def __init__(self, loader, fail_at, error):
        self.loader, self.fail_at, self.error, self.seen = loader, fail_at, error, 0
        self.num_classes = loader.num_classes

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.seen += 1
            if self.seen == self.fail_at:
                raise self.error
            yield batch


def test_an_error_in_epoch_3_keeps_the_two_finished_epochs():
    torch.manual_seed(0)
    tr, te = toy_loaders()
    failing = FailingLoader(tr, 2 * len(tr) + 2, OSError("disk went away"))
    with pytest.raises(OSError, match="disk went away") as e:
        cnncourse.train_ch6(small_net(), failing, te, 5, 0.5, "cpu", animate=False,
                            verbose=False)
    assert e.value.history.epochs == 2 and len(e.value.history.test_acc) == 2
    assert any("err.history" in note for note in e.value.__notes__)


def test_a_one_shot_iterable_with_a_length_keeps_the_finished_epoch():
    tr, te = toy_loaders()

    class OneShot:  # has __len__, but a second pass yields nothing
        def __init__(self):
            self.it, self.num_classes = iter(list(tr)), 10

        def __len__(self):
            return len(tr)

        def __iter__(self):
            return self.it

    with pytest.raises(ValueError, match="no training batch") as e:
        cnncourse.train_ch6(small_net(), OneShot(), te, 3, 0.5, "cpu", animate=False,
                            verbose=False)
    assert e.value.history.epochs == 1


def test_divergence_names_the_rate_of_a_ready_made_optimizer():
    torch.manual_seed(0)
    tr, te = toy_loaders()
    net = small_net()
    opt = torch.optim.SGD(net.parameters(), lr=1e6)
    with pytest.raises(cnncourse.DivergenceError, match=r"SGD at lr=1e\+06.*e\.g\. 100000"):
        cnncourse.train_ch6(net, tr, te, 5, None, "cpu", optimizer=opt, animate=False,
                            verbose=False)


def test_lr_and_a_ready_made_optimizer_must_agree():
    tr, te = toy_loaders()
    net = small_net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    before = _weights(net)
    with pytest.raises(ValueError, match=r"ready-made Adam with lr=0\.001, but train_ch6 was "
                                         r"given lr=0\.9.*lr=0\.001\) or lr=None"):
        cnncourse.train_ch6(net, tr, te, 1, 0.9, "cpu", optimizer=opt, animate=False,
                            verbose=False)
    assert _unchanged(net, before)
    for lr in (1e-3, None):  # its own rate, said again or left to it
        hist = cnncourse.train_ch6(net, tr, te, 1, lr, "cpu", optimizer=opt, animate=False,
                                   verbose=False)
        assert hist.epochs == 1 and opt.param_groups[0]["lr"] == 1e-3
    with pytest.raises(TypeError, match="lr .* not None"):
        cnncourse.train_ch6(net, tr, te, 1, None, "cpu", animate=False)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
def test_evaluating_a_model_in_another_precision_is_named(dtype):
    _, te = toy_loaders()
    with pytest.raises(TypeError, match=rf"parameters are {dtype}, but evaluate_accuracy_gpu "
                                        r"feeds it float32 images: call net.float\(\)"):
        cnncourse.evaluate_accuracy_gpu(small_net().to(dtype), te)
    with pytest.raises(TypeError, match="but evaluate_loss feeds it float32"):
        cnncourse.evaluate_loss(small_net().to(dtype), te, nn.CrossEntropyLoss())
    # a float64 model on float64 data is consistent: evaluated, not refused
    X64 = [(torch.rand(4, 1, 28, 28, dtype=torch.float64), torch.arange(4))]
    assert 0 <= cnncourse.evaluate_accuracy_gpu(small_net().double(), X64) <= 1


def test_the_loop_the_lenet_page_shows_is_in_plain_sight():
    """The LeNet page includes train_ch6 whole and says a reader sees the loop in it: the
    device, net.to, the optimiser, the loss, the epoch and batch loops, the step, the
    evaluation and the record are lines of its body, in that order, and the speed-ups come
    in as one swap of the step after the plain one (not hidden in a helper)."""
    import inspect

    body = inspect.getsource(cnncourse.train_ch6)
    lines = ["device = ", "net.apply(", "net.to(device)", "optimizer = make_optimizer(",
             "loss = nn.CrossEntropyLoss()", "def train_step(X, y):", "optimizer.zero_grad()",
             "y_hat = net(X)", "batch_loss = loss(y_hat, y)", "batch_loss.backward()",
             "optimizer.step()",
             "step = speed_up(train_step", "for epoch in range(start, num_epochs):",
             "for X, y in train_iter:", "batch_loss, y_hat = step(X, y)",
             "evaluate_accuracy_gpu(net, test_iter", "history.add_epoch(", "return history"]
    at = [body.find(line) for line in lines]
    assert all(i >= 0 for i in at), [line for line, i in zip(lines, at) if i < 0]
    assert at == sorted(at), "the lines are out of order"
    # short enough to read whole (d2l's: ~40 lines; torchrun and checkpoints add eight, the
    # checks of loss and device one)
    assert len(body.splitlines()) <= 65
