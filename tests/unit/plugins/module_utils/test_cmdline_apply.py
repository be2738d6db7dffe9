"""Carrying out a Change: the files written and GRUB's regeneration."""

import os

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.apply import regenerate_grub
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
