"""Issue 21, root file system full: every writer fails with a message naming the file, the
previous file stays whole (no truncated drop-in, no empty file) and no temporary file is
left behind. A real full file system: a small tmpfs mounted over the test's root (needs
root, as CI runs; skipped otherwise), filled with zeros until the kernel says ENOSPC."""

import errno
import os
import subprocess

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.common import files
from ansible_collections.kvmops.hypervisor.plugins.modules import config_files, kernel_cmdline, run_lock
from module_runner import run_module
from sysfs_builder import write_file

DROPIN = "/etc/default/grub.d/90-kvmops-numa_pinning.cfg"
OWNED = "/etc/kvmops-test/owned.conf"


def fill(root):
    """Write zeros into root/filler until the file system is full; True when it is."""
    path = os.path.join(str(root), "filler")
    with open(path, "wb", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as exc:
            return exc.errno == errno.ENOSPC


def tree(root):
    """{relative path: bytes} of every file but the filler."""
    out = {}
    for directory, _dirs, names in os.walk(str(root)):
        for name in names:
            full = os.path.join(directory, name)
            rel = os.path.relpath(full, str(root))
            if rel != "filler":
                with open(full, "rb") as handle:
                    out[rel] = handle.read()
    return out


@pytest.fixture
def full_root(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    root = tmp_path / "root"
    root.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs", str(root)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % proc.stderr.strip())
    try:
        write_file(root, "/etc/default/grub", 'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n'
                                              'GRUB_CMDLINE_LINUX=""\n')
        write_file(root, DROPIN, '# kvmops\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX isolcpus=2-3"\n')
        write_file(root, OWNED, "old = 1\n")
        write_file(root, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n")
        yield root
    finally:
        subprocess.run(["umount", str(root)], check=False)


def test_the_writer_keeps_the_old_file_whole(full_root):
    path = os.path.join(str(full_root), OWNED.lstrip("/"))
    assert fill(full_root)
    before = tree(full_root)
    with pytest.raises(OSError) as info:
        files.write_text(path, "new = 2\n" * 2000)
    assert info.value.errno == errno.ENOSPC
    assert tree(full_root) == before  # old text, no temporary file


def test_config_files_fails_naming_the_file(monkeypatch, full_root):
    assert fill(full_root)
    before = tree(full_root)
    outcome = run_module(monkeypatch, config_files.main,
                         {"files": {OWNED: "new = 2\n" * 2000}, "root": str(full_root)})
    assert outcome.failed
    assert OWNED in outcome.result["msg"] and "No space left on device" in outcome.result["msg"]
    assert tree(full_root) == before


def test_kernel_cmdline_fails_before_grub_and_keeps_the_drop_in(monkeypatch, full_root):
    assert fill(full_root)
    before = tree(full_root)
    outcome = run_module(monkeypatch, kernel_cmdline.main,
                         {"owner": "numa_pinning", "args": {"isolcpus": "2-3", "nohz_full": "2-3" + ",2-3" * 400},
                          "root": str(full_root)})
    assert outcome.failed
    assert "No space left on device" in outcome.result["msg"] and DROPIN in outcome.result["msg"]
    assert tree(full_root) == before


def test_run_lock_fails_naming_the_lock_and_leaves_no_empty_lock(monkeypatch, full_root):
    # the first write of a run: a full disk fails it there, and must not leave an empty
    # lock file (a torn record) for the next run to find
    write_file(full_root, "/var/lib/kvmops/.keep", "")
    assert fill(full_root)
    before = tree(full_root)
    outcome = run_module(monkeypatch, run_lock.main,
                         {"run_id": "r1", "holder": {"controller": "c", "pid": 1, "padding": "x" * 8192},
                          "root": str(full_root)})
    assert outcome.failed
    assert "/var/lib/kvmops/run.lock" in outcome.result["msg"] and "No space left on device" in outcome.result["msg"]
    assert tree(full_root) == before
