# -*- coding: utf-8 -*-
"""The one file writer: compare first, write atomically, never leave a half file."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common import files


def test_write_creates_with_mode_and_parents(tmp_path):
    path = str(tmp_path / "etc" / "sysctl.d" / "90-x.conf")
    assert files.write_text(path, "a = 1\n") is True
    with open(path) as handle:
        assert handle.read() == "a = 1\n"
    assert os.stat(path).st_mode & 0o7777 == 0o644
    assert files.write_text(path, "a = 1\n") is False


def test_mode_difference_is_a_change(tmp_path):
    path = str(tmp_path / "f")
    files.write_text(path, "x")
    os.chmod(path, 0o600)
    assert files.needs_write(path, "x")
    assert files.write_text(path, "x") is True
    assert os.stat(path).st_mode & 0o7777 == 0o644


def test_check_mode_writes_nothing(tmp_path):
    path = str(tmp_path / "d" / "f")
    assert files.write_text(path, "new", check=True) is True
    assert not os.path.exists(str(tmp_path / "d"))


def test_failure_keeps_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = str(tmp_path / "f")
    files.write_text(path, "old\n")

    def broken_rename(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(files.os, "rename", broken_rename)
    with pytest.raises(OSError):
        files.write_text(path, "new\n")
    with open(path) as handle:
        assert handle.read() == "old\n"
    assert os.listdir(str(tmp_path)) == ["f"]


def test_remove_and_diff(tmp_path):
    path = str(tmp_path / "f")
    assert files.remove(path) is False
    files.write_text(path, "a\n")
    assert files.diff(path, None)["after_header"].endswith("(absent)")
    assert files.diff(path, "b\n")["before"] == "a\n"
    assert files.remove(path, check=True) is True
    assert os.path.exists(path)
    assert files.remove(path) is True
    assert not os.path.exists(path)
