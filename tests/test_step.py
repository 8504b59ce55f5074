"""The training step behind train_ch6: the plain one, the fast one, and the one recorded
as a CUDA graph.

A CPU cannot record CUDA graphs, so ``RecordedOnCPU`` swaps the three CUDA-specific
pieces of ``GraphedStep`` for stand-ins that keep a graph's contract: recording
runs nothing, and a replay runs the recorded step on the static input tensors and
leaves its results in ``static_out``. What these tests check is everything around the
recording -- warm-up, copying batches into the static inputs, the eager path for other
shapes, the outputs, the fallback when recording fails. That the real recording works
needs a GPU (see benchmarks/).
"""
from __future__ import annotations

import contextlib
import warnings

import pytest
import torch
from torch import nn

import cnncourse
from cnncourse.models.lenet import lenet
from cnncourse.step import FastStep, GraphedStep, graph_capturable


class RecordedOnCPU(GraphedStep):
    def _side_stream(self):
        return contextlib.nullcontext()

    def _record(self, body):
        self.recorded = getattr(self, "recorded", 0) + 1

        def replay():  # recording ran nothing; a replay runs the body on static_X/static_y
            self.static_out = body()
        return replay


class FailsToRecord(GraphedStep):
    def _side_stream(self):
        return contextlib.nullcontext()

    def _record(self, body):
        raise RuntimeError("operation not permitted when stream is capturing")


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 10))


def _batches(n=70, batch=16, seed=1):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 8, 8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return [(X[i:i + batch], y[i:i + batch]) for i in range(0, n, batch)]


def _fast(net, opt, **kw):
    return FastStep(net, nn.CrossEntropyLoss(), opt, "cpu", **kw)


def _train(graph_cls, make_opt, epochs=2, **kw):
    """Train ``_net()`` with a FastStep (wrapped in ``graph_cls`` unless None); the sums
    of each epoch (loss x examples, correct, examples), as train_ch6's loop adds them."""
    net = _net()
    step = _fast(net, make_opt(net))
    if graph_cls is not None:
        step = graph_cls(step, **kw)
    sums = []
    for _ in range(epochs):
        loss_sum, correct, count = 0.0, 0, 0
        for X, y in _batches():
            batch_loss, y_hat = step(X, y)
            loss_sum += float(batch_loss) * X.shape[0]
            correct += int(cnncourse.accuracy(y_hat, y))
            count += X.shape[0]
        sums.append((loss_sum, correct, count))
    return net, step, sums


OPTIMIZERS = {
    "sgd": lambda net: torch.optim.SGD(net.parameters(), lr=0.5),
    "sgd-momentum": lambda net: torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9),
}


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_recorded_step_trains_exactly_like_the_eager_one(opt):
    eager_net, _, eager_sums = _train(None, OPTIMIZERS[opt])
    graph_net, step, graph_sums = _train(RecordedOnCPU, OPTIMIZERS[opt])
    for a, b in zip(eager_net.parameters(), graph_net.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert graph_sums == eager_sums
    # 5 batches per epoch (4 of 16, one of 6), 2 epochs: 3 warm-up steps, one recording,
    # the full batches replayed and each epoch's short batch run eagerly
    assert step.recorded == 1
    assert step.replays == 2 * 4 - 3
    assert step.eager_steps == 3 + 2
    assert step.static_X.shape == (16, 1, 8, 8)


def test_weights_move_on_every_replay():
    # a graph replays the optimiser step too: a replay that left the weights alone
    # would still give plausible sums, so look at the weights themselves
    net = _net()
    step = RecordedOnCPU(_fast(net, torch.optim.SGD(net.parameters(), lr=0.5)))
    batches = _batches()[:4]
    for X, y in batches:  # 3 warm-up steps, then the recording and its first replay
        step(X, y)
    assert step.replays == 1
    before = [p.detach().clone() for p in net.parameters()]
    step(*batches[0])
    assert step.replays == 2
    assert any(not torch.equal(a, p) for a, p in zip(before, net.parameters()))


def test_a_step_that_cannot_be_recorded_warns_and_trains_eagerly():
    eager_net, _, eager_sums = _train(None, OPTIMIZERS["sgd"])
    with pytest.warns(RuntimeWarning, match="could not record.*CUDA graph.*cuda_graph=False"):
        net, step, sums = _train(FailsToRecord, OPTIMIZERS["sgd"])
    assert step.failed.startswith("RuntimeError: operation not permitted")
    assert step.replay is None and step.replays == 0
    assert sums == eager_sums  # no batch skipped, none trained twice
    for a, b in zip(eager_net.parameters(), net.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_graph_capturable_reads_the_optimizers_option():
    p = [nn.Parameter(torch.zeros(2))]
    assert graph_capturable(torch.optim.SGD(p, lr=0.1))
    assert not graph_capturable(torch.optim.Adam(p, lr=0.1))
    assert graph_capturable(torch.optim.Adam(p, lr=0.1, capturable=True))


def test_cuda_graph_flag_is_a_no_op_off_cuda():
    tr, te = (cnncourse.TensorLoader((torch.rand(40, 28, 28) * 255).to(torch.uint8),
                                     torch.arange(40) % 10, 8, shuffle=True, num_classes=10)
              for _ in range(2))
    runs = []
    for flag in (False, True, "auto"):
        torch.manual_seed(0)
        net = lenet()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no "could not record" warning on a CPU
            runs.append(cnncourse.train_ch6(net, tr, te, 1, 0.1, "cpu", cuda_graph=flag,
                                            animate=False, verbose=False))
        tr._generator.manual_seed(0)
    assert runs[0].train_loss == runs[1].train_loss == runs[2].train_loss
    assert runs[1].cuda_graph_replays == runs[2].cuda_graph_replays == 0


def test_mixed_precision_is_off_on_the_cpu_unless_asked_for():
    seen = []
    tr = cnncourse.TensorLoader((torch.rand(16, 28, 28) * 255).to(torch.uint8),
                                torch.arange(16) % 10, 8, num_classes=10)
    for flag in (None, True):
        net = lenet()
        hook = net[-1].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
        cnncourse.train_ch6(net, tr, tr, 1, 0.1, "cpu", mixed_precision=flag,
                            animate=False, verbose=False)
        hook.remove()
        # train_ch6's output-width check (float32), 2 training steps, then the test pass,
        # which is always float32: it is evaluate_accuracy_gpu's own path
        train = torch.float32 if flag is None else torch.bfloat16
        assert seen == [torch.float32, train, train, torch.float32, torch.float32], seen
        seen.clear()


def test_auto_graph_is_silent_when_the_optimizer_cannot_be_recorded():
    from cnncourse.plan import RunPlan

    p = [nn.Parameter(torch.zeros(2))]
    sgd, adam = torch.optim.SGD(p, lr=0.1), torch.optim.Adam(p, lr=0.1)

    def graph(flag, opt, device="cuda"):  # only the device type is looked at: no GPU needed
        return RunPlan.decide(device, cuda_graph=flag).settle_cuda_graph(opt)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert graph("auto", sgd) is True
        assert graph("auto", adam) is False  # eager, without a word
        assert graph(True, torch.optim.Adam(p, lr=0.1, capturable=True)) is True
        assert graph(False, sgd) is False
        for flag in ("auto", True):  # a CPU has no CUDA graphs: nothing to say
            assert graph(flag, adam, "cpu") is False
    with pytest.warns(RuntimeWarning, match="cuda_graph=True needs an optimizer created with "
                                            "capturable=True"):
        assert graph(True, adam) is False


def test_the_plan_asks_adam_for_a_capturable_step_count_only_for_a_graph():
    from cnncourse.plan import RunPlan, make_optimizer

    net = nn.Linear(2, 2)
    for device, flag, capturable in (("cuda", "auto", True), ("cuda", False, False),
                                     ("cpu", "auto", False)):
        plan = RunPlan.decide(device, cuda_graph=flag)
        opt = make_optimizer("adam", net, 0.1, capturable=plan.cuda_graph)
        assert opt.param_groups[0]["capturable"] is capturable


def test_cuda_graph_rejects_other_values():
    tr = cnncourse.TensorLoader(torch.zeros(8, 28, 28, dtype=torch.uint8),
                                torch.arange(8) % 10, 8, num_classes=10)
    with pytest.raises(ValueError, match="cuda_graph must be True, False or 'auto', not 'yes'"):
        cnncourse.train_ch6(lenet(), tr, tr, 1, 0.1, "cpu", cuda_graph="yes",
                            animate=False, verbose=False)


def test_a_failed_recording_under_auto_trains_eagerly_without_a_warning():
    eager_net, _, eager_sums = _train(None, OPTIMIZERS["sgd"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net, step, sums = _train(FailsToRecord, OPTIMIZERS["sgd"], warn_on_failure=False)
    assert step.failed.startswith("RuntimeError: operation not permitted")
    assert step.replays == 0 and sums == eager_sums


def test_the_fast_step_trains_as_the_plain_one_does():
    """The swap changes how the arithmetic is laid out, not what is trained: train_ch6 with
    every speed-up off (its plain five-line step) and with the CPU's default (channels-last,
    through FastStep) reach the same losses and the same weights."""
    runs, nets = {}, {}
    for name, speed in (("plain", dict(channels_last=False)), ("fast", {})):
        torch.manual_seed(0)
        nets[name] = net = _net()
        X = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(2))
        loader = cnncourse.TensorLoader((X[:, 0] * 255).to(torch.uint8), torch.arange(64) % 10,
                                        16, shuffle=True, num_classes=10)
        hist = cnncourse.train_ch6(net, loader, loader, 2, 0.3, "cpu", animate=False,
                                   verbose=False, **speed)
        runs[name] = hist
    assert runs["plain"].plan.channels_last is False and runs["fast"].plan.channels_last
    assert runs["fast"].train_loss == pytest.approx(runs["plain"].train_loss, rel=1e-5)
    assert runs["fast"].test_acc == runs["plain"].test_acc
    for a, b in zip(nets["plain"].parameters(), nets["fast"].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_speed_up_returns_the_plain_step_when_the_plan_asks_for_nothing():
    from cnncourse.plan import RunPlan
    from cnncourse.step import speed_up

    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)

    def plain(X, y):
        return None

    nothing = RunPlan.decide("cpu", channels_last=False)
    assert speed_up(plain, net, nn.CrossEntropyLoss(), opt, nothing) is plain
    fast = speed_up(plain, net, nn.CrossEntropyLoss(), opt, RunPlan.decide("cpu"))
    assert isinstance(fast, FastStep) and fast.channels_last and not fast.mixed_precision
