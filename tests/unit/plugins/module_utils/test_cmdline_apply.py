"""Carrying out a Change: the files written and GRUB's regeneration."""

import os
import stat

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.apply import (
    apply_change,
    regenerate_grub,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.change import (
    Change,
    plan_change,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.grub_cfg import grub_cfg_cmdline
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.owners import (
    REMOVED_RECORD,
    grub_dropin_path,
    render_grub_dropin,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import CmdlineError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from fake_grub import install as install_fake_grub
from fake_grub import mkconfig_calls, shell_run
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


def writes_new_config(argv):
    """A grub-mkconfig that writes "new" to its -o file; grub-script-check accepts it."""
    if argv[0] == "mkconfig":
        with open(argv[2], "w") as handle:
            handle.write("new\n")
    return 0, "", ""


def test_regenerate_replaces_and_keeps_mode(tmp_path):
    path = put(tmp_path, "/boot/grub/grub.cfg", "old\n")
    os.chmod(path, 0o444)
    reader = Reader(str(tmp_path))

    run = writes_new_config
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

    run = writes_new_config
    log = record_syncs(monkeypatch)
    grub = {"cfg": "/boot/grub/grub.cfg", "mkconfig": "mkconfig", "check": "check"}
    assert regenerate_grub(reader, grub, run) is True
    assert dir_synced_after_rename(log, tmp_path / "boot" / "grub" / "grub.cfg")


# --------------------------------------------------------------------------- no command without a runner

def test_without_a_runner_no_command_runs_and_the_skipped_ones_are_listed(tmp_path):
    """run=None (what the module passes for a root other than /): files are written, the
    grubby commands and GRUB's regeneration are listed in commands_skipped, none runs."""
    change = Change()
    change.backend = "grub"
    change.files = {grub_dropin_path("a"): render_grub_dropin("a", ["x=1"])}
    change.commands = [["/usr/sbin/grubby", "--update-kernel=ALL", "--args=x=1"]]
    change.regenerate = True
    change.grub = {"cfg": "/boot/grub/grub.cfg", "env": "/boot/grub/grubenv",
                   "mkconfig": "/usr/sbin/grub-mkconfig", "check": "/usr/bin/grub-script-check"}
    assert apply_change(Reader(str(tmp_path)), change, None) == (False, False)
    assert (tmp_path / grub_dropin_path("a").lstrip("/")).exists()
    assert change.commands_skipped == [
        ["/usr/sbin/grubby", "--update-kernel=ALL", "--args=x=1"],
        ["/usr/sbin/grub-mkconfig", "-o", "/boot/grub/grub.cfg"],
        ["/usr/bin/grub-script-check", "/boot/grub/grub.cfg"]]


def test_the_runner_runs_the_grubby_commands(tmp_path):
    change = Change()
    change.backend = "grubby"
    change.commands = [["grubby", "--update-kernel=ALL", "--args=x=1"]]
    calls = []
    assert apply_change(Reader(str(tmp_path)), change,
                        lambda argv: calls.append(argv) or (0, "", "")) == (False, False)
    assert calls == change.commands and change.commands_skipped == []


# --------------------------------------------------------------------------- regeneration with the fake tools

@pytest.fixture
def grub_host(tmp_path, monkeypatch):
    """A Debian tree and the fake GRUB tools, injected as ``which`` and run by shell_run."""
    root = tmp_path / "root"
    tools = install_fake_grub(tmp_path / "bin")
    monkeypatch.setenv("FAKE_GRUB_ROOT", str(root))
    monkeypatch.delenv("FAKE_GRUB_BREAK", raising=False)
    put(root, "/etc/default/grub",
        'GRUB_DEFAULT=0\nGRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\n'
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX="console=ttyS0,115200n8"\n')
    os.makedirs(str(root / "boot" / "grub"))
    return root, tools.get


def converge(grub_host, regenerate=True, **kwargs):
    """What the module does on /, with the runner injected: plan, apply, read grub.cfg back."""
    root, which = grub_host
    reader = Reader(str(root))
    change = plan_change(reader, which=which, **kwargs)
    ran, regenerated = apply_change(reader, change, shell_run, regenerate=regenerate)
    pending = grub_cfg_cmdline(reader, change.grub["cfg"], change.grub["env"]) if ran else change.pending
    return change, regenerated, pending


HUGEPAGES = ["default_hugepagesz=1G", "hugepagesz=1G", "hugepages=0:4,1:4", "hugepagesz=2M",
             "hugepages=0:512"]


def test_first_boot_config_is_generated_and_read_back(grub_host):
    root, _which = grub_host
    change, regenerated, pending = converge(grub_host, owner="hugepages", args=HUGEPAGES)
    assert regenerated and change.commands_skipped == []
    # read back from the grub.cfg the fake grub-mkconfig generated with /bin/sh
    assert pending == (["BOOT_IMAGE=/boot/vmlinuz-6.1.0-13-amd64", "root=UUID=1", "ro",
                        "console=ttyS0,115200n8"] + HUGEPAGES + ["quiet"])
    assert mkconfig_calls(root) == 1
    again, regenerated, pending_again = converge(grub_host, owner="hugepages", args=HUGEPAGES)
    assert not again.changed and not regenerated and pending_again == pending
    assert mkconfig_calls(root) == 1


def test_the_prediction_is_what_grub_cfg_then_holds(grub_host):
    converge(grub_host, owner="numa", args={"isolcpus": "2-3"})
    predicted = plan_change(Reader(str(grub_host[0])), "hugepages", HUGEPAGES, which=grub_host[1]).pending
    _change, regenerated, pending = converge(grub_host, owner="hugepages", args=HUGEPAGES)
    assert regenerated and pending == predicted


def test_failed_check_keeps_old_grub_cfg(grub_host, monkeypatch):
    root, _which = grub_host
    converge(grub_host, owner="a", args=["x=1"])
    old = Reader(str(root)).text("/boot/grub/grub.cfg")
    monkeypatch.setenv("FAKE_GRUB_BREAK", "1")
    with pytest.raises(CmdlineError, match="unbalanced braces"):
        converge(grub_host, owner="a", args=["x=2"])
    assert Reader(str(root)).text("/boot/grub/grub.cfg") == old
    assert sorted(os.listdir(str(root / "boot" / "grub"))) == ["grub.cfg"]
    # the drop-in was written: the next run (fixed tool) sees grub.cfg out of date and regenerates
    monkeypatch.delenv("FAKE_GRUB_BREAK")
    fixed, regenerated, pending = converge(grub_host, owner="a", args=["x=2"])
    assert fixed.changed and fixed.files == {} and regenerated
    assert "x=2" in pending


def test_deferred_regeneration_then_handler(grub_host):
    root, _which = grub_host
    converge(grub_host, owner="a", args=["x=1"])
    calls = mkconfig_calls(root)
    one, _r, _p = converge(grub_host, regenerate=False, owner="a", args=["x=1", "y"])
    two, _r, predicted = converge(grub_host, regenerate=False, owner="b", args=["z=3"])
    assert one.regenerate and two.regenerate and predicted[-4:] == ["x=1", "y", "z=3", "quiet"]
    assert mkconfig_calls(root) == calls
    handler, regenerated, pending = converge(grub_host, regenerate_only=True)
    assert regenerated and mkconfig_calls(root) == calls + 1
    assert pending == predicted
    assert not converge(grub_host, regenerate=False, owner="a", args=["x=1", "y"])[0].changed
