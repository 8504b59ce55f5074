"""Sphinx extension: the book's kernels talk to the build over Unix sockets, not TCP.

ipykernel 7 prints "Kernel is running over TCP without encryption" for every
kernel started on jupyter_client's default transport (TCP on localhost), so
every chapter of a build printed it. Over IPC (Unix-domain sockets, files
``kernel-ipc-N`` beside the chapter while it runs, removed when it ends) the
messages stay on this machine and the warning has no cause. jupyter-book's
executor (myst-nb -> jupyter-cache -> nbclient) passes no configuration to the
kernel manager it creates, so this sets the transport's default for the build
process. Registered in ``_config.yml`` under ``sphinx.local_extensions``.
"""
from __future__ import annotations

import os


def use_ipc() -> None:
    """Make IPC the default transport of every kernel manager this process creates."""
    from jupyter_client.manager import KernelManager

    KernelManager.class_traits()["transport"].default_value = "ipc"


def setup(app) -> dict:
    if os.name == "posix":  # Unix sockets; elsewhere keep jupyter_client's TCP default
        use_ipc()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
