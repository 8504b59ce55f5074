"""Shared fixtures: tiny IDX files for the loader's error paths, the real data when installed;
and which tests are slow (``make unit`` leaves them out)."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest
import torch

import cnncourse
from cnncourse.data import DataNotFoundError


def write_idx(path: Path, data: torch.Tensor, magic: int | None = None, gz: bool = False,
              truncate: int = 0) -> Path:
    """Write ``data`` (uint8) as an IDX file; ``truncate`` drops that many trailing bytes."""
    magic = magic if magic is not None else (2049 if data.ndim == 1 else 2051)
    raw = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in data.shape)
    raw += data.to(torch.uint8).numpy().tobytes()
    if truncate:
        raw = raw[:-truncate]
    opener = gzip.open if gz else open
    with opener(path, "wb") as f:
        f.write(raw)
    return path


def make_fake_copy(folder: Path, n_train: int = 50, n_test: int = 20, gz: bool = True) -> Path:
    """A complete, valid, tiny Fashion-MNIST-shaped copy (for the finder and loader plumbing)."""
    folder.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    suffix = ".gz" if gz else ""
    for split, n in (("train", n_train), ("test", n_test)):
        img_name, lbl_name = cnncourse.FASHION_MNIST_FILES[split]
        write_idx(folder / (img_name + suffix),
                  torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8), gz=gz)
        write_idx(folder / (lbl_name + suffix),
                  torch.arange(n, dtype=torch.uint8) % 10, gz=gz)
    return folder


@pytest.fixture
def isolated_search(tmp_path, monkeypatch):
    """Point every place the finder looks at empty folders under tmp_path."""
    import cnncourse.data as data

    monkeypatch.delenv("CNNCOURSE_DATA", raising=False)
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(data, "DEBIAN_DIR", tmp_path / "debian")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    data._read_split.cache_clear()
    yield tmp_path
    data._read_split.cache_clear()


def _real_data_available() -> bool:
    try:
        cnncourse.find_fashion_mnist(download=False)
        return True
    except DataNotFoundError:
        return False


REAL_DATA = _real_data_available()
needs_real_data = pytest.mark.skipif(
    not REAL_DATA, reason="real Fashion-MNIST not installed (apt-get install "
                          "dataset-fashion-mnist, or set CNNCOURSE_DATA); `make test` installs it")


# Tests that take seconds or more, in files whose tests mark none themselves: each ran over a
# second (or its cases together over 2.5 s) on the course's 2-core machine under the usual load
# (pytest --durations, December 2026), or builds the book, executes notebooks, starts
# subprocesses that import torch, or trains on the real data. ``pytest_collection_modifyitems``
# marks them ``slow``; ``make unit`` (-m "not slow") leaves them out, ``make test`` runs all.
# A test can also carry ``@pytest.mark.slow`` itself (then it is not listed here);
# tests/test_markers.py checks that every name below still names a test.
SLOW: dict[str, tuple[str, ...]] = {
    # builds the whole book in the smoke budget (every chapter executes)
    "test_book.py": ("*",),
    "test_i18n.py": ("test_chinese_book_builds_from_the_english_cache",
                     "test_catalogues_match_the_sources", "test_chinese_notebook_is_up_to_date",
                     "test_chinese_setup_cell_goes_to_chapters_and_prints_in_chinese",
                     "test_every_message_is_found_in_the_myst_source"),
    # execute notebooks or scripts in kernels or subprocesses
    "test_alexnet.py": ("test_script_smoke_run_writes_what_the_chapter_reads",),
    "test_animator_notebook.py": ("*",),
    "test_download.py": ("test_a_download_killed_midway_leaves_the_other_s_file_whole",
                         "test_two_downloads_into_one_folder_both_succeed"),
    "test_figures.py": ("test_committed_lenet_figure_is_what_the_script_draws",),
    "test_jupytext_pairing.py": ("test_jupytext_sync_changes_no_chapter",),
    "test_notebooks.py": ("test_book_kernels_run_over_ipc_without_the_tcp_warning",
                          "test_ipynb_matches_its_md"),
    "test_progress.py": ("test_an_executed_notebook_keeps_no_progress_bar",),
    # train networks, or compare with PyTorch/captum over many random cases
    "test_benchmarks.py": ("test_cases_build_models_of_the_right_shape",
                           "test_cnncourse_options_reach_train_ch6",
                           "test_cnncourse_order_follows_the_run_seed",
                           "test_thread_benchmark_plumbing"),
    "test_conv.py": ("test_conv_output_size_matches_nn_conv2d_on_a_grid",
                     "test_corr2d_matches_F_conv2d", "test_pool2d_backward_matches_autograd",
                     "test_pool2d_matches_torch",
                     "test_receptive_field_matches_the_gradient_footprint"),
    "test_conv_backward.py": ("test_backward_matches_autograd_on_random_shapes",),
    "test_data.py": ("test_real_fashion_mnist_is_complete_and_balanced",),
    "test_interpret.py": ("test_integrated_gradients_are_complete",
                          "test_integrated_gradients_is_captum_riemann_right",
                          "test_occlusion_is_captum_occlusion",
                          "test_randomized_copies_cascade_from_the_top",
                          "test_saliency_is_captum_saliency",
                          "test_smoothgrad_is_captum_noise_tunnel_with_the_same_noise"),
    "test_lenet.py": ("test_short_training_reduces_loss",
                      "test_sigmoid_lenet_learns_with_published_lr"),
    "test_losses.py": ("test_cross_entropy_finite_on_huge_logits",
                       "test_cross_entropy_matches_torch", "test_gradient_is_softmax_minus_one_hot",
                       "test_naive_agrees_on_moderate_logits", "test_softmax_matches_torch"),
    "test_mlp_limits.py": ("test_deep_sigmoid_gradients_vanish_and_relu_kaiming_ones_do_not",),
    "test_modern.py": ("test_batch_norm_matches_pytorch_in_both_modes",
                       "test_kaiming_init_keeps_the_plain_deep_cnn_gradient",
                       "test_plain_deep_cnn_gradients_vanish_residual_do_not",
                       "test_scratch_batch_norm_trains_like_torch"),
    "test_step.py": ("test_a_step_that_cannot_be_recorded_warns_and_trains_eagerly",
                     "test_cuda_graph_flag_is_a_no_op_off_cuda",
                     "test_recorded_step_trains_exactly_like_the_eager_one"),
    "test_train.py": ("test_d2l_lenet_reaches_70_percent_in_10_epochs_on_real_data",
                      "test_a_one_shot_iterator_is_refused_before_training",
                      "test_compile_trains_or_falls_back_with_a_clear_message",
                      "test_ctrl_c_returns_history_so_far",
                      "test_divergence_names_epoch_and_keeps_history",
                      "test_reported_test_accuracy_is_what_evaluate_accuracy_gpu_returns",
                      "test_the_curves_x_axis_starts_at_zero",
                      "test_the_same_seed_gives_the_same_numbers_under_load",
                      "test_train_ch6_learns_and_returns_history"),
}


def is_listed_slow(file_name: str, function: str) -> bool:
    names = SLOW.get(file_name, ())
    return "*" in names or function in names


def pytest_collection_modifyitems(config, items):
    for item in items:
        function = getattr(item, "originalname", None) or item.name.split("[")[0]
        if is_listed_slow(item.path.name, function):
            item.add_marker(pytest.mark.slow)
