"""Sphinx extension: the book's kernels talk to the build over Unix sockets, not TCP.

ipykernel 7 prints "Kernel is running over TCP without encryption" for every
kernel started on jupyter_client's default transport (TCP on localhost), so
every chapter of a build printed it. Over IPC (Unix-domain sockets in a private
temporary folder of this build, removed as each kernel ends) the messages stay
on this machine and the warning has no cause. jupyter-book's executor (myst-nb
-> jupyter-cache -> nbclient) passes no configuration to the kernel manager it
creates, so this changes the defaults of the transport and of the socket path
(absolute: the kernel runs in the chapter's folder, the build elsewhere) for
the build process. Registered in ``_config.yml`` under
``sphinx.local_extensions``.

No public setting does this, so the socket path goes in through traitlets'
table of default generators, a private attribute. ``use_ipc`` checks on a
fresh kernel manager that both defaults took effect and otherwise undoes its
changes: a jupyter_client or traitlets that works differently can only bring
the TCP warning back, never leave kernels the build cannot reach.
"""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def use_ipc() -> bool:
    """Make IPC the default transport of every kernel manager this process creates.

    Returns whether it did; when not, jupyter_client's TCP default is left as it was.
    """
    try:
        from jupyter_client.manager import AsyncKernelManager, KernelManager
    except ImportError:
        return False
    folder = tempfile.mkdtemp(prefix="cnncourse-kernels-")

    def socket_path(manager) -> str:  # jupyter_client appends -1, -2, ... per channel
        return os.path.join(folder, "kernel") if manager.transport == "ipc" else "127.0.0.1"

    classes = (KernelManager, AsyncKernelManager)
    undo = []
    try:
        transport = KernelManager.class_traits()["transport"]
        undo.append(lambda old=transport.default_value: setattr(transport, "default_value", old))
        transport.default_value = "ipc"
        for cls in classes:
            table = cls._all_trait_default_generators  # private: see the module docstring
            old_ip = table.get("ip")
            undo.append(lambda t=table, old=old_ip: t.__setitem__("ip", old)
                        if old is not None else t.pop("ip", None))
            table["ip"] = socket_path
        managers = [cls() for cls in classes]
        works = all(m.transport == "ipc" and m.ip == socket_path(m) for m in managers)
    except Exception:  # an attribute renamed or a table no longer consulted
        works = False
    if not works:
        for step in reversed(undo):
            step()
        shutil.rmtree(folder, ignore_errors=True)
        return False
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return True


def setup(app) -> dict:
    # Unix sockets exist on POSIX only; elsewhere keep jupyter_client's TCP default
    if os.name == "posix" and not use_ipc():
        from sphinx.util import logging

        logging.getLogger(__name__).info(
            "kernel_ipc: this jupyter_client cannot be switched to IPC; kernels use TCP")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
