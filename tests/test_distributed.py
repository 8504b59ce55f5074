"""Data parallelism on a CPU with gloo, and checkpoints that survive a lost process.

The multi-process tests start real processes (plain ones with torchrun's environment, or
``torchrun`` itself) on localhost, each with one thread and a small subset, a free port and
a timeout; the rest run in this process, without a process group.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import cnncourse
from cnncourse.checkpoint import CheckpointError
from cnncourse.distributed import DistributedError, ShardedDataLoader, ShardedTensorLoader
from cnncourse.models.lenet import lenet
from cnncourse.models.modern import lenet_bn
from conftest import needs_real_data

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 240  # seconds for any one subprocess: generous for a loaded 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                        "CNNCOURSE_FAIL_AT")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT), **extra)
    return env


def run_ranks(script: Path, world: int, *args: str, timeout: float = TIMEOUT,
              **extra: str) -> list[subprocess.CompletedProcess]:
    """Start ``world`` plain processes with the environment torchrun would give them."""
    port = str(free_port())
    procs = [subprocess.Popen([sys.executable, str(script), *args], cwd=script.parent,
                              env=child_env(RANK=str(r), LOCAL_RANK=str(r),
                                            WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                                            MASTER_PORT=port, **extra),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in range(world)]
    done = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=timeout)
            done.append(subprocess.CompletedProcess(p.args, p.returncode, out))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return done


def torchrun(*args: str, timeout: float = TIMEOUT, **extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *args],
                            cwd=ROOT, env=child_env(**extra), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"timed out after {timeout} s:\n{out[-3000:]}") from None
    assert proc.returncode == 0, out[-3000:]
    return out


# ---- two processes on half-batches vs one on the whole batch -------------------------------

WORKER = textwrap.dedent('''
    import sys
    import torch
    import cnncourse
    from cnncourse.distributed import ShardedTensorLoader
    sys.path.insert(0, sys.argv[1])
    from test_distributed import data, scratch_steps, train_sharded

    joined = cnncourse.init_from_env(timeout_s=60)
    rank, world = cnncourse.get_rank(), cnncourse.get_world_size()
    scratch = scratch_steps(rank, world)
    net, history = train_sharded(rank, world)
    bn_net, _ = train_sharded(rank, world, batch_norm=True)
    # a checkpoint under the group: every rank's random states, written by rank 0
    cnncourse.save_checkpoint("ck.pt", net, None, cnncourse.TrainHistory(), 1)
    _, start = cnncourse.resume("ck.pt", net, None, cnncourse.TrainHistory())
    try:  # the file on rank 0's machine only
        cnncourse.resume("ck.pt" if rank == 0 else "elsewhere.pt", net, None,
                         cnncourse.TrainHistory())
        uneven = None
    except cnncourse.CheckpointError as err:
        uneven = str(err)
    rngs = len(torch.load("ck.pt", weights_only=True)["rng"])
    torch.save({"joined": joined, "rank": rank, "world": world, "scratch": scratch,
                "ddp": net.state_dict(), "history": history, "bn": bn_net.state_dict(),
                "start": start, "uneven": uneven, "rngs": rngs}, f"rank{rank}.pt")
''')


def data(n: int = 64, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8),
            torch.randint(0, 10, (n,), generator=g))


def scratch_steps(rank: int, world: int, steps: int = 3, batch: int = 16) -> dict:
    """A few SGD steps of LeNet; each rank takes its slice of every batch and the gradients
    are averaged by ``average_gradients`` (on one process: the whole batch, no averaging)."""
    images, labels = data()
    X = images.unsqueeze(1).float() / 255
    torch.manual_seed(0)
    net = lenet()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    per = batch // world
    for s in range(steps):
        lo = s * batch + rank * per
        opt.zero_grad()
        nn.functional.cross_entropy(net(X[lo:lo + per]), labels[lo:lo + per]).backward()
        if world > 1:
            cnncourse.average_gradients(net)
        opt.step()
    return net.state_dict()


def train_sharded(rank: int, world: int, batch_norm: bool = False):
    """``train_ch6`` on this rank's share of a shuffled in-memory loader (global batch 16);
    on one process the same order through a one-rank ``ShardedTensorLoader``."""
    images, labels = data()
    test_images, test_labels = data(40, seed=1)  # 3 test batches: the ranks' shares differ
    train = cnncourse.TensorLoader(images, labels, 16, shuffle=True, num_classes=10)
    if world == 1:
        train = ShardedTensorLoader(train, 0, 1)
    test = cnncourse.TensorLoader(test_images, test_labels, 16, num_classes=10)
    torch.manual_seed(rank)  # different inits: DDP must copy rank 0's weights
    net = lenet_bn() if batch_norm else lenet()
    history = cnncourse.train_ch6(net, train, test, 1 if batch_norm else 2, 0.5, "cpu",
                                  animate=False, verbose=rank == 0,
                                  init="xavier" if rank == 0 else None)
    return net, {k: getattr(history, k) for k in ("train_loss", "train_acc", "test_acc")}


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ranks")
    script = folder / "worker.py"
    script.write_text(WORKER)
    done = run_ranks(script, 2, str(Path(__file__).parent))
    for r, p in enumerate(done):
        assert p.returncode == 0, f"rank {r}:\n{p.stdout[-3000:]}"
    return [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(2)], done


def assert_close_states(a: dict, b: dict, rtol: float = 1e-5, atol: float = 1e-6) -> float:
    assert a.keys() == b.keys()
    worst = 0.0
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=rtol, atol=atol, msg=k)
        worst = max(worst, float((a[k] - b[k]).abs().max()))
    return worst


@pytest.mark.slow
def test_two_processes_on_half_batches_equal_one_on_the_whole_batch(two_ranks):
    ranks, done = two_ranks
    assert [r["joined"] for r in ranks] == [True, True]
    assert [(r["rank"], r["world"]) for r in ranks] == [(0, 2), (1, 2)]
    # average_gradients: each rank half of each batch == one process on the whole batch
    assert_close_states(ranks[0]["scratch"], scratch_steps(0, 1))
    for key, value in ranks[0]["scratch"].items():
        assert torch.equal(value, ranks[1]["scratch"][key]), key
    # train_ch6 under DDP: the same weights and numbers as one process on the same order
    net, history = train_sharded(0, 1)
    assert_close_states(ranks[0]["ddp"], net.state_dict())
    for key, values in history.items():
        assert ranks[0]["history"][key] == pytest.approx(values, abs=1e-5), key


@pytest.mark.slow
def test_all_ranks_end_with_identical_weights_and_history(two_ranks):
    ranks, done = two_ranks
    for model in ("ddp", "bn"):  # with batch norm: its running statistics too
        for key, value in ranks[0][model].items():
            assert torch.equal(value, ranks[1][model][key]), (model, key)
    assert any("running_mean" in key for key in ranks[0]["bn"])
    assert ranks[0]["history"] == ranks[1]["history"]


@pytest.mark.slow
def test_a_checkpoint_under_a_group_resumes_every_rank_or_says_which_lacks_it(two_ranks):
    ranks, _ = two_ranks
    assert [r["start"] for r in ranks] == [1, 1] and ranks[0]["rngs"] == 2
    for r in ranks:  # both stop, with the same message, instead of waiting on each other
        assert "exists on some ranks but not on rank(s) 1: on several machines" in r["uneven"]


@pytest.mark.slow
def test_only_rank_0_prints_and_ddp_keeps_channels_last_quiet(two_ranks):
    _, done = two_ranks
    assert "training on cpu" in done[0].stdout
    assert "training on" not in done[1].stdout and "epoch" not in done[1].stdout
    for p in done:  # DDP's buckets were laid out for the channels-last weights
        assert "Grad strides do not match" not in p.stdout


@pytest.mark.slow
@needs_real_data
def test_a_killed_rank_stops_the_other_with_a_message(tmp_path):
    """Without torchrun, rank 1 SIGKILLs itself mid-epoch; rank 0 stops with advice."""
    script = tmp_path / "train.py"
    script.write_text("from cnncourse.ddp_train import main\nmain()\n")
    done = run_ranks(script, 2, "--epochs", "2", "--subset", "512", "--test-subset", "100",
                     "--batch-size", "64", "--checkpoint", str(tmp_path / "ck.pt"),
                     "--timeout", "30", CNNCOURSE_FAIL_AT="2:1")
    assert done[1].returncode == -9
    assert done[0].returncode != 0
    assert "lost the other processes" in done[0].stdout, done[0].stdout[-2000:]
    assert "--max-restarts" in done[0].stdout
    assert (tmp_path / "ck.pt").exists() and (tmp_path / "ck.pt.failed").exists()


# ---- torchrun: two "machines", and a rank killed under --max-restarts ------------------------

ARGS = ("-m", "cnncourse.ddp_train", "--model", "lenet", "--epochs", "2", "--batch-size", "128",
        "--lr", "0.3", "--subset", "1024", "--test-subset", "200", "--seed", "0")


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory):
    """``torchrun --nnodes=2 --nproc_per_node=1`` twice on localhost, a c10d rendezvous."""
    out = tmp_path_factory.mktemp("nodes") / "result.json"
    endpoint = f"localhost:{free_port()}"
    nodes = [torchrun("--nnodes=2", "--nproc_per_node=1", "--rdzv-backend=c10d",
                      f"--rdzv-endpoint={endpoint}", "--rdzv-id=two-machines", *ARGS,
                      "--out", str(out)) for _ in range(2)]
    logs = [finish(p) for p in nodes]
    return json.loads(out.read_text()), logs


@pytest.mark.slow
@needs_real_data
def test_two_machines_train_together_under_a_c10d_rendezvous(two_machines):
    result, logs = two_machines
    assert result["world_size"] == 2 and result["restarts"] == 0
    assert len(result["rank_sha256"]) == 2 and len(set(result["rank_sha256"])) == 1
    assert sum("training on cpu" in log for log in logs) == 1  # one rank 0 printed
    assert len(result["history"]["train_loss"]) == 2


@pytest.mark.slow
@needs_real_data
def test_a_rank_killed_mid_epoch_restarts_from_the_checkpoint(two_machines, tmp_path):
    """Rank 1 SIGKILLs itself halfway through epoch 2; torchrun restarts both, they resume
    from epoch 1's checkpoint, and the weights end bit for bit as the uninterrupted run's."""
    uninterrupted, _ = two_machines
    out, ckpt = tmp_path / "result.json", tmp_path / "ckpt.pt"
    log = finish(torchrun("--nproc_per_node=2", "--max-restarts=1", "--rdzv-backend=c10d",
                          f"--rdzv-endpoint=localhost:{free_port()}", *ARGS,
                          "--checkpoint", str(ckpt), "--out", str(out),
                          "--fail-at-epoch", "2", "--fail-rank", "1"))
    result = json.loads(out.read_text())
    assert (tmp_path / "ckpt.pt.failed").exists() and "SIGKILL in epoch 2" in log
    assert result["restarts"] == 1 and "resumed from epoch 1 of" in log
    assert len(set(result["rank_sha256"])) == 1
    assert result["state_sha256"] == uninterrupted["state_sha256"]
    assert result["param_sum"] == uninterrupted["param_sum"]
    for key in ("train_loss", "train_acc", "test_acc"):
        assert result["history"][key] == uninterrupted["history"][key]
    assert not list(tmp_path.glob(".ckpt.pt.*.tmp"))  # no temporary file left behind


# ---- in this process: sharding, checkpoints, errors -----------------------------------------

def numbered(n: int, batch: int, shuffle: bool = True, seed: int = 0):
    """A TensorLoader whose image ``i`` is filled with the value ``i`` (``n`` <= 256)."""
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1).expand(n, 28, 28).contiguous()
    return cnncourse.TensorLoader(images, torch.arange(n) % 10, batch, shuffle=shuffle,
                                  seed=seed, num_classes=10)


def indices(batch_X: torch.Tensor) -> list[int]:
    return (batch_X[:, 0, 0, 0] * 255).round().long().tolist()


def test_shards_split_every_global_batch_and_reshuffle_per_epoch():
    loader = numbered(70, 16)  # 4 full global batches and one of 6
    ranks = [ShardedTensorLoader(loader, r, 2, seed=3) for r in range(2)]
    orders = []
    for epoch in range(2):
        for r in ranks:
            r.set_epoch(epoch)
        batches = [[indices(X) for X, _ in r] for r in ranks]
        assert [len(b) for b in batches] == [len(ranks[0])] * 2 == [5, 5]
        assert all(len(b) == 8 for b in batches[0][:4]) and len(batches[0][4]) == 3
        seen = [i for b0, b1 in zip(*batches) for i in b0 + b1]
        assert len(seen) == len(set(seen)) == 70  # 6 split 3 + 3: nothing left out here
        orders.append(seen)
        # the same epoch gives the same order again (resume, and every rank alike)
        assert [[indices(X) for X, _ in r] for r in ranks] == batches
    assert orders[0] != orders[1]
    one = ShardedTensorLoader(loader, 0, 1, seed=3)  # the one-process run of that order
    one.set_epoch(1)
    assert [i for X, _ in one for i in indices(X)] == orders[1]


def test_shard_takes_the_loaders_seed_unless_given_one(monkeypatch):
    import cnncourse.distributed as distributed
    monkeypatch.setattr(distributed, "get_world_size", lambda: 2)
    monkeypatch.setattr(distributed, "get_rank", lambda: 1)
    orders = {}
    for seed in (0, 5):
        sharded = distributed.shard(numbered(64, 16, seed=seed))
        assert sharded.seed == seed and sharded.rank == 1
        orders[seed] = [i for X, _ in sharded for i in indices(X)]
    assert orders[0] != orders[5]  # --seed changes the order under torchrun too
    assert distributed.shard(numbered(64, 16, seed=5), seed=2).seed == 2


def test_a_short_last_batch_drops_at_most_world_size_minus_one_examples():
    ranks = [ShardedTensorLoader(numbered(67, 15, shuffle=False), r, 3, seed=0)
             for r in range(3)]
    # four global batches of 15 (5 per rank), then 7 examples: 2 per rank, 1 left out
    seen = [i for r in ranks for X, _ in r for i in indices(X)]
    assert len(seen) == len(set(seen)) == 66 and 66 not in seen
    assert [len(r) for r in ranks] == [5, 5, 5]


def test_a_batch_the_world_size_does_not_divide_is_named():
    with pytest.raises(ValueError, match=r"batch size 10 does not split evenly over 3 "
                                         r"processes.*e\.g\. 9 or 12.*or start 2 processes"):
        ShardedTensorLoader(numbered(20, 10), 0, 3)


def test_a_dataloader_is_sharded_with_a_distributed_sampler():
    dataset = torch.utils.data.TensorDataset(torch.arange(21).float(), torch.arange(21))
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, shuffle=True)
    ranks = [ShardedDataLoader(loader, r, 2, seed=0) for r in range(2)]
    for r in ranks:
        r.set_epoch(5)
    parts = [[int(i) for _, y in r for i in y] for r in ranks]
    assert all(max(len(y) for _, y in r) == 2 for r in ranks) and ranks[0].batch_size == 2
    assert len(parts[0]) == len(parts[1]) == 10 and not set(parts[0]) & set(parts[1])


def test_without_a_group_everything_is_one_plain_process(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    assert cnncourse.init_from_env() is False
    assert (cnncourse.get_rank(), cnncourse.get_world_size(), cnncourse.is_main_process()) \
        == (0, 1, True)
    loader, net = numbered(20, 4), nn.Linear(3, 2)
    assert cnncourse.shard(loader) is loader and cnncourse.wrap_ddp(net, "cpu") is net
    cnncourse.average_gradients(net)  # no group, no gradient: nothing to do, no error


def test_half_a_torchrun_environment_is_named(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(DistributedError, match="not MASTER_ADDR, MASTER_PORT.*torchrun"):
        cnncourse.init_from_env()


def test_an_unreachable_rendezvous_fails_within_the_timeout(monkeypatch):
    port = free_port()  # nobody listens there
    for var, value in (("RANK", "1"), ("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"),
                       ("MASTER_PORT", str(port))):
        monkeypatch.setenv(var, value)
    with pytest.raises(DistributedError, match=rf"rank 1 of 2 could not join the process group "
                                               rf"at 127\.0\.0\.1:{port} within 2 s"):
        cnncourse.init_from_env(timeout_s=2)
    assert cnncourse.get_world_size() == 1


def test_train_ch6_shows_the_ddp_and_checkpoint_lines_in_order():
    body = inspect.getsource(cnncourse.train_ch6)
    lines = ["train_iter = shard(train_iter)", "net.to(device)", "net = wrap_ddp(net",
             "optimizer = make_optimizer(", "history, start = resume(checkpoint",
             "for epoch in range(start, num_epochs):", "set_epoch(train_iter, epoch)",
             "for X, y in train_iter:", "metric = sum_over_ranks(metric)",
             "history.add_epoch(", "save_checkpoint(checkpoint, net, optimizer, history"]
    at = [body.find(line) for line in lines]
    assert all(i >= 0 for i in at), [line for line, i in zip(lines, at) if i < 0]
    assert at == sorted(at)


def dropout_net() -> nn.Sequential:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(0.3),
                         nn.Linear(32, 10))


def run(epochs: int, checkpoint=None, verbose: bool = False, net=None):
    """A short run whose every epoch draws randomness: shuffling, dropout, momentum."""
    torch.manual_seed(0)
    images, labels = data(96)
    train = cnncourse.TensorLoader(images, labels, 32, shuffle=True, seed=0, num_classes=10)
    test = cnncourse.TensorLoader(*data(32, seed=1), 32, num_classes=10)
    net = dropout_net() if net is None else net
    opt = lambda params, lr: torch.optim.SGD(params, lr=lr, momentum=0.9)  # noqa: E731
    history = cnncourse.train_ch6(net, train, test, epochs, 0.1, "cpu", optimizer=opt,
                                  animate=False, verbose=verbose, checkpoint=checkpoint)
    return net, history


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resuming_equals_the_uninterrupted_run(tmp_path, capsys):
    whole_net, whole = run(3)
    ckpt = tmp_path / "run.pt"
    run(2, ckpt)                  # stops after epoch 2 (a lost runtime, say)
    net, history = run(3, ckpt, verbose=True)
    assert f"resumed from epoch 2 of {ckpt}" in capsys.readouterr().out
    for key, value in whole_net.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    assert history.epochs == 3
    assert (history.train_loss, history.train_acc, history.test_acc) == \
        (whole.train_loss, whole.train_acc, whole.test_acc)
    record = cnncourse.load_checkpoint(ckpt, dropout_net())
    assert record["epoch"] == 3 and record["history"]["train_loss"] == whole.train_loss
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_finished_checkpoint_trains_nothing_and_a_shorter_run_is_refused(tmp_path):
    ckpt = tmp_path / "run.pt"
    run(2, ckpt)
    before = digest(ckpt)
    net, history = run(2, ckpt)
    assert history.epochs == 2 and digest(ckpt) == before
    with pytest.raises(CheckpointError, match=r"holds 2 finished epochs, more than "
                                              r"num_epochs=1.*num_epochs=2 or more"):
        run(1, ckpt)
    assert digest(ckpt) == before


def test_a_truncated_checkpoint_is_named_and_left_as_it_is(tmp_path):
    ckpt = tmp_path / "run.pt"
    run(1, ckpt)
    ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    before = digest(ckpt)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(ckpt))} .*is not a readable "
                                              r"checkpoint: it is "
                                              r"truncated.*delete .* or pass another"):
        run(2, ckpt)
    assert digest(ckpt) == before


def test_a_checkpoint_of_another_model_is_named_and_left_as_it_is(tmp_path):
    ckpt = tmp_path / "run.pt"
    run(1, ckpt)
    before = digest(ckpt)
    wider = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Dropout(0.3),
                          nn.Linear(64, 10))
    with pytest.raises(CheckpointError, match=r"another model .*shapes differ for '1\.weight': "
                                              r"\(32, 784\) in the file, \(64, 784\) in the "
                                              r"model.*To start fresh, delete"):
        run(2, ckpt, net=wider)
    with pytest.raises(CheckpointError, match=r"the model has '0\.weight', '0\.bias' that the "
                                              r"file lacks; the file has '1\.weight'"):
        cnncourse.load_checkpoint(ckpt, nn.Sequential(nn.Linear(3, 3)))
    assert digest(ckpt) == before
