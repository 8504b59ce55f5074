"""Sphinx extension: the book's kernels talk to the build over Unix sockets, not TCP.

ipykernel 7 prints "Kernel is running over TCP without encryption" for every
kernel started on jupyter_client's default transport (TCP on localhost), so
every chapter of a build printed it. Over IPC (Unix-domain sockets in a private
temporary folder of this build, removed as each kernel ends) the messages stay
on this machine and the warning has no cause. jupyter-book's executor (myst-nb
-> jupyter-cache -> nbclient) passes no configuration to the kernel manager it
creates, so this sets the defaults of the transport and of the socket path
(absolute: the kernel runs in the chapter's folder, the build elsewhere) for
the build process. Registered in ``_config.yml`` under
``sphinx.local_extensions``.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def use_ipc() -> None:
    """Make IPC the default transport of every kernel manager this process creates."""
    from jupyter_client.manager import AsyncKernelManager, KernelManager

    folder = tempfile.mkdtemp(prefix="cnncourse-kernels-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)

    def socket_path(manager) -> str:  # jupyter_client appends -1, -2, ... per channel
        return os.path.join(folder, "kernel") if manager.transport == "ipc" else "127.0.0.1"

    KernelManager.class_traits()["transport"].default_value = "ipc"
    for cls in (KernelManager, AsyncKernelManager):
        cls._all_trait_default_generators["ip"] = socket_path


def setup(app) -> dict:
    if os.name == "posix":  # Unix sockets; elsewhere keep jupyter_client's TCP default
        use_ipc()
    return {"parallel_read_safe": True, "parallel_write_safe": True}
