"""Carrying out a Change: the files written and GRUB's regeneration."""

import os
import stat

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.apply import (
    apply_change,
    regenerate_grub,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.change import Change
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.owners import (
    REMOVED_RECORD,
    grub_dropin_path,
    render_grub_dropin,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import CmdlineError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from sysfs_builder import write_file


put = write_file


# --------------------------------------------------------------------------- applying

def test_regenerate_failure_keeps_old_grub_cfg(tmp_path):
    put(tmp_path, "/boot/grub/grub.cfg", "old\n")
    reader = Reader(str(tmp_path))
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[0] == "mkconfig":
            with open(argv[2], "w") as handle:
                handle.write("broken {\n")
            return 0, "", ""
        return 1, "", "syntax error"

    grub = {"cfg": "/boot/grub/grub.cfg", "mkconfig": "mkconfig", "check": "check"}
    with pytest.raises(CmdlineError, match="syntax error"):
        regenerate_grub(reader, grub, run)
    assert reader.text("/boot/grub/grub.cfg") == "old"
    assert os.listdir(str(tmp_path / "boot" / "grub")) == ["grub.cfg"]
    assert calls[1] == ["check", calls[0][2]]


def test_regenerate_replaces_and_keeps_mode(tmp_path):
    path = put(tmp_path, "/boot/grub/grub.cfg", "old\n")
    os.chmod(path, 0o444)
    reader = Reader(str(tmp_path))

    def run(argv):
        if argv[0] == "mkconfig":
            with open(argv[2], "w") as handle:
                handle.write("new\n")
        return 0, "", ""

    grub = {"cfg": "/boot/grub/grub.cfg", "mkconfig": "mkconfig", "check": "check"}
    assert regenerate_grub(reader, grub, run) is True
    assert reader.text("/boot/grub/grub.cfg") == "new"
    assert os.stat(path).st_mode & 0o777 == 0o444
    assert regenerate_grub(reader, grub, run) is False


# --------------------------------------------------------------------------- the one file writer

def record_syncs(monkeypatch):
    """Log of renames and fsyncs, in order: ("rename", dst) / ("fsync", inode, is_dir)."""
    log = []
    real_fsync, real_rename = os.fsync, os.rename

    def fsync(fd):
        info = os.fstat(fd)
        log.append(("fsync", info.st_ino, stat.S_ISDIR(info.st_mode)))
        return real_fsync(fd)

    def rename(src, dst):
        log.append(("rename", str(dst)))
        return real_rename(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "rename", rename)
    return log


def dir_synced_after_rename(log, path):
    """Whether ``path``'s directory was fsynced after the last rename onto ``path``."""
    renames = [index for index, entry in enumerate(log) if entry == ("rename", str(path))]
    directory = os.stat(os.path.dirname(str(path))).st_ino
    return bool(renames) and ("fsync", directory, True) in log[renames[-1] + 1:]


def no_command(argv):
    raise AssertionError("no command may run here, ran %r" % (argv,))


def test_apply_writes_through_the_shared_writer(tmp_path, monkeypatch):
    """Drop-ins and records: compared first, written atomically, directory fsynced."""
    put(tmp_path, "/run/kvmops/kernel_cmdline.removed", "x\n")
    put(tmp_path, grub_dropin_path("gone"), render_grub_dropin("gone", ["y=1"]))
    record = tmp_path / REMOVED_RECORD.lstrip("/")
    inode = os.stat(str(record)).st_ino
    log = record_syncs(monkeypatch)
    change = Change()
    change.backend = "grub"
    change.files = {grub_dropin_path("a"): render_grub_dropin("a", ["isolcpus=2"]),
                    grub_dropin_path("gone"): None}
    change.removed = ["x=1"]
    assert apply_change(Reader(str(tmp_path)), change, no_command) == (False, False)
    dropin = tmp_path / grub_dropin_path("a").lstrip("/")
    assert dropin.read_text() == render_grub_dropin("a", ["isolcpus=2"])
    assert stat.S_IMODE(os.stat(str(dropin)).st_mode) == 0o644
    assert dir_synced_after_rename(log, dropin)
    assert not (tmp_path / grub_dropin_path("gone").lstrip("/")).exists()
    # the removed-names record already says the same: compared, not rewritten
    assert os.stat(str(record)).st_ino == inode and record.read_text() == "x\n"
    assert ("rename", str(record)) not in log


def test_regenerate_fsyncs_the_directory_after_the_rename(tmp_path, monkeypatch):
    put(tmp_path, "/boot/grub/grub.cfg", "old\n")
    reader = Reader(str(tmp_path))

    def run(argv):
        if argv[0] == "mkconfig":
            with open(argv[2], "w") as handle:
                handle.write("new\n")
        return 0, "", ""

    log = record_syncs(monkeypatch)
    grub = {"cfg": "/boot/grub/grub.cfg", "mkconfig": "mkconfig", "check": "check"}
    assert regenerate_grub(reader, grub, run) is True
    assert dir_synced_after_rename(log, tmp_path / "boot" / "grub" / "grub.cfg")
