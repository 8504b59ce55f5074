"""The distributed chapter's laboratory: its pieces alone, and its experiments under torchrun."""
import pytest
import torch
from torch import nn

from cnncourse import ddp_lab


def test_the_command_is_the_one_a_reader_would_type():
    cmd = ddp_lab.torchrun_command("equality", 2, "r.json", steps=3, seed=1)
    assert cmd[:5] == ["python", "-m", "torch.distributed.run", "--standalone",
                       "--nproc_per_node=2"]
    assert cmd[5:] == ["-m", "cnncourse.ddp_lab", "equality", "--out", "r.json",
                       "--steps", "3", "--seed", "1"]


def test_an_unknown_experiment_is_named():
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*equality"):
        ddp_lab.launch("nope")


def test_options_must_come_in_pairs():
    with pytest.raises(SystemExit):
        ddp_lab.main(["equality", "--out", "x.json", "--steps"])


@pytest.mark.parametrize("shape", [(6, 3, 5, 5), (8, 4)])
def test_sync_batchnorm_without_a_group_is_batch_norm(shape):
    torch.manual_seed(0)
    ref = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1])
    with torch.no_grad():
        ref.weight.uniform_(0.5, 2), ref.bias.uniform_(-1, 1)
    sync = ddp_lab.convert_sync_batchnorm(nn.Sequential(ref))[0]
    assert isinstance(sync, ddp_lab.SyncBatchNorm)
    ref2 = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1])
    ref2.load_state_dict(sync.state_dict())
    X = 3 * torch.randn(shape) + 1
    assert torch.allclose(sync(X), ref2(X), atol=1e-6)
    assert torch.allclose(sync.running_mean, ref2.running_mean, atol=1e-6)


def test_lenet_with_dropout_keeps_lenet_s_shapes_and_drops_in_training():
    net = ddp_lab.lenet_dropout()
    assert sum(isinstance(m, nn.Dropout) for m in net) == 2
    X = torch.rand(4, 1, 28, 28)
    assert net(X).shape == (4, 10)
    net.eval()
    assert torch.equal(net(X), net(X))


@pytest.mark.slow
def test_two_processes_take_one_process_s_steps_and_batch_norm_breaks_it():
    r = ddp_lab.launch("equality", steps=2, show=False)
    assert r["lenet"]["one"] < 1e-5 < r["lenet"]["moved"]
    assert max(case["ranks"] for case in r.values()) == 0
    assert r["lenet_bn"]["one"] > 1e-3 > r["lenet_bn"]["one_split"]
    assert r["lenet_bn_sync"]["one"] < 1e-4
    assert r["lenet_dropout"]["one"] > 1e-3


@pytest.mark.slow
def test_without_set_epoch_the_first_epoch_is_the_same_and_the_second_differs():
    r = ddp_lab.launch("sampler", epochs=2, seeds=1, subset=512, show=False)
    with_, without = r["with"][0]["train_loss"], r["without"][0]["train_loss"]
    assert with_[0] == without[0]   # set_epoch(0) is the sampler's own first epoch
    assert with_[1] != without[1]   # then the forgotten call repeats epoch 0's shuffle


@pytest.mark.slow
def test_a_failing_experiment_raises_with_its_output():
    with pytest.raises(RuntimeError, match="unexpected keyword argument 'stepz'"):
        ddp_lab.launch("equality", stepz=2, show=False, timeout=300)
