"""bookfactory.kernel_ipc: IPC when jupyter_client allows it; TCP, never a broken build, when not.

The end-to-end check (a kernel in another folder answers, no TCP warning) is in
tests/test_notebooks.py; here the switch itself and its two ways of failing.
"""
from __future__ import annotations

import os

import pytest
from jupyter_client.connect import ConnectionFileMixin
from jupyter_client.manager import AsyncKernelManager, KernelManager

import kernel_ipc

CLASSES = (KernelManager, AsyncKernelManager)
TABLE = "_all_trait_default_generators"


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """jupyter_client's own defaults (a Sphinx build in this process may have switched them),
    restored afterwards; use_ipc's folder is ``tmp_path/k``."""
    transport = KernelManager.class_traits()["transport"]
    monkeypatch.setattr(transport, "default_value", "tcp")
    for cls in CLASSES:
        own = {**getattr(cls, TABLE), "ip": ConnectionFileMixin._ip_default}
        monkeypatch.setattr(cls, TABLE, own)
    folder = tmp_path / "k"

    def mkdtemp(prefix=""):
        folder.mkdir()
        return str(folder)

    monkeypatch.setattr(kernel_ipc.tempfile, "mkdtemp", mkdtemp)
    return folder


def _tcp_as_before() -> bool:
    return all(cls().transport == "tcp" and cls().ip == "127.0.0.1" for cls in CLASSES)


def test_ipc_with_absolute_sockets_in_a_private_folder(fresh):
    assert kernel_ipc.use_ipc() is True
    for cls in CLASSES:
        m = cls()
        assert m.transport == "ipc" and m.ip == os.path.join(fresh, "kernel")
    assert fresh.is_dir()


def test_a_renamed_private_attribute_leaves_tcp_and_no_folder(fresh):
    with pytest.MonkeyPatch.context() as mp:
        for cls in KernelManager.__mro__:  # as if traitlets had renamed it
            if TABLE in vars(cls):
                mp.delattr(cls, TABLE)
        assert kernel_ipc.use_ipc() is False
        assert KernelManager.class_traits()["transport"].default_value == "tcp"
    assert _tcp_as_before() and not fresh.exists()


def test_a_table_that_is_no_longer_read_leaves_tcp(fresh, monkeypatch):
    # a default method on the class itself wins over the table (as a newer traitlets might do)
    monkeypatch.setattr(KernelManager, "_ip_default", lambda self: "127.0.0.1", raising=False)
    assert kernel_ipc.use_ipc() is False
    assert _tcp_as_before() and not fresh.exists()
    assert "ip" not in getattr(KernelManager, TABLE) or \
        getattr(KernelManager, TABLE)["ip"].__name__ != "socket_path"
