"""section_apply's fstab step (plugins/module_utils/apply/fstab.py, steps.fstab): the
hugetlbfs lines of /etc/fstab in the role's one module run, written as ansible.posix.mount
(state present or mounted) writes them, so a host it converged sees no change (issue 18).

The expected texts are literals written by hand in ansible.posix.mount's format; the
comparison tests run the real ansible.posix.mount module (the version in the venv) on a
copy of the same file."""

import os
import shutil

import pytest

from ansible_collections.ansible.posix.plugins.modules import mount as posix_mount
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply import steps
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.fstab import fstab_text
from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.steps import STEPS, StepError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.audit.observe import observe
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from module_runner import run_module

G1 = {"path": "/dev/hugepages1G", "src": "hugetlbfs", "fstype": "hugetlbfs", "opts": "pagesize=1G",
      "dump": "0", "passno": "0"}
M2 = dict(G1, path="/dev/hugepages2M", opts="pagesize=2M")

DEBIAN = ("# /etc/fstab: static file system information.\n"
          "#\n"
          "# <file system> <mount point>   <type>  <options>       <dump>  <pass>\n"
          "UUID=0a1b / ext4 errors=remount-ro 0 1\n"
          "\n"
          "UUID=77aa none swap sw 0 0\n")


class Module(object):
    """What a step uses of AnsibleModule."""

    def __init__(self, check_mode=False, diff=True):
        self.check_mode = check_mode
        self._diff = diff


def put(root, text, mode=0o644):
    path = os.path.join(str(root), "etc", "fstab")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, mode)
    return path


def read(path):
    with open(path) as handle:
        return handle.read()


def test_a_new_line_is_appended_in_ansible_posix_format_and_the_rest_kept(tmp_path):
    path = put(tmp_path, DEBIAN)
    result = steps.fstab(Module(), [G1, M2], str(tmp_path))
    assert result["changed"] is True and result["changed_mounts"] == ["/dev/hugepages1G", "/dev/hugepages2M"]
    assert read(path) == DEBIAN + ("hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n"
                                   "hugetlbfs /dev/hugepages2M hugetlbfs pagesize=2M 0 0\n")


def test_a_line_ansible_posix_wrote_is_right_and_the_file_not_touched(tmp_path):
    # as ansible.posix.mount (state present/mounted) wrote it on hosts converged before
    text = DEBIAN + "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n"
    path = put(tmp_path, text)
    os.utime(path, (1000000000, 1000000000))
    inode = os.stat(path).st_ino
    result = steps.fstab(Module(), [G1], str(tmp_path))
    assert result == {"changed": False, "changed_mounts": [], "diff": [], "warnings": []}
    assert read(path) == text
    assert os.stat(path).st_mtime == 1000000000 and os.stat(path).st_ino == inode


def test_fields_are_compared_not_spacing(tmp_path):
    text = "hugetlbfs\t/dev/hugepages1G   hugetlbfs  pagesize=1G\t0 0   # aligned by hand\n" + DEBIAN.rstrip("\n")
    path = put(tmp_path, text)
    assert steps.fstab(Module(), [G1], str(tmp_path))["changed"] is False
    assert read(path) == text  # not even the missing final newline added


def test_differing_options_replace_that_line_in_place_and_keep_every_other_byte(tmp_path):
    text = DEBIAN + "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=2M,mode=1770 0 0\n# after\n"
    path = put(tmp_path, text, mode=0o600)
    result = steps.fstab(Module(), [G1], str(tmp_path))
    assert result["changed"] is True and result["changed_mounts"] == ["/dev/hugepages1G"]
    assert read(path) == DEBIAN + "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n# after\n"
    assert os.stat(path).st_mode & 0o7777 == 0o600  # mode kept
    assert [name for name in os.listdir(os.path.dirname(path)) if name != "fstab"] == []  # no temporary left


def test_a_line_without_dump_and_passno_is_rewritten_with_them_as_ansible_posix_does(tmp_path):
    # ansible.posix fills a missing dump/passno with the integer 0, never equal to '0'
    path = put(tmp_path, "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G\n")
    assert steps.fstab(Module(), [G1], str(tmp_path))["changed"] is True
    assert read(path) == "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n"


def test_every_line_of_a_duplicated_mount_point_is_made_right(tmp_path):
    path = put(tmp_path, "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=2M 0 0\n"
                         "UUID=0a1b / ext4 defaults 0 1\n"
                         "hugetlbfs  /dev/hugepages1G  hugetlbfs  pagesize=1G  0  0\n")
    assert steps.fstab(Module(), [G1], str(tmp_path))["changed"] is True
    assert read(path) == ("hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n"
                          "UUID=0a1b / ext4 defaults 0 1\n"
                          "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n")


def test_check_mode_writes_nothing_and_reports_the_change_and_diff(tmp_path):
    path = put(tmp_path, DEBIAN)
    os.utime(path, (1000000000, 1000000000))
    result = steps.fstab(Module(check_mode=True), [G1], str(tmp_path))
    assert result["changed"] is True and result["changed_mounts"] == ["/dev/hugepages1G"]
    assert read(path) == DEBIAN and os.stat(path).st_mtime == 1000000000
    assert result["diff"] == [{"before": DEBIAN,
                               "after": DEBIAN + "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n",
                               "before_header": "/etc/fstab", "after_header": "/etc/fstab"}]
    assert steps.fstab(Module(), [G1], str(tmp_path))["diff"] == result["diff"]


def test_a_missing_fstab_is_created_0644(tmp_path):
    check = steps.fstab(Module(check_mode=True), [G1], str(tmp_path))
    assert check["changed"] is True and not os.path.exists(str(tmp_path / "etc"))
    assert check["diff"][0]["before_header"] == "/etc/fstab (absent)"
    assert steps.fstab(Module(), [G1], str(tmp_path))["changed"] is True
    path = str(tmp_path / "etc" / "fstab")
    assert read(path) == "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n"
    assert os.stat(path).st_mode & 0o7777 == 0o644
    assert steps.fstab(Module(), [G1], str(tmp_path))["changed"] is False


def test_no_entry_touches_nothing(tmp_path):
    assert steps.fstab(Module(), [], str(tmp_path))["changed"] is False
    assert not os.path.exists(str(tmp_path / "etc"))


def test_an_unreadable_fstab_is_not_overwritten(tmp_path):
    path = os.path.join(str(tmp_path), "etc", "fstab")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as handle:
        handle.write(b"/dev/sda1 /mnt/\xff ext4 defaults 0 0\n")
    with pytest.raises(StepError, match="cannot be read"):
        steps.fstab(Module(), [G1], str(tmp_path))
    with open(path, "rb") as handle:
        assert handle.read() == b"/dev/sda1 /mnt/\xff ext4 defaults 0 0\n"


@pytest.mark.parametrize("entry, message", [
    (dict(G1, path="dev/hugepages1G"), "not an absolute mount point"),
    (dict(G1, opts="pagesize=1G#x"), "holds a newline, a tab or a #"),
    (dict(G1, src=""), "src must be a non-empty string"),
])
def test_bad_entries_are_refused_before_anything_is_written(tmp_path, entry, message):
    path = put(tmp_path, DEBIAN)
    with pytest.raises(StepError, match=message):
        steps.fstab(Module(), [M2, entry], str(tmp_path))
    assert read(path) == DEBIAN


def test_the_step_runs_before_lines_whose_qemu_conf_names_the_mounts():
    assert STEPS.index("files") < STEPS.index("fstab") < STEPS.index("lines")


# ----------------------------------------------------------------------------- against ansible.posix.mount

FSTABS = {
    "debian": DEBIAN,
    "empty": "",
    "no final newline": DEBIAN.rstrip("\n"),
    "right": DEBIAN + "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n",
    "aligned": "hugetlbfs   /dev/hugepages1G\thugetlbfs pagesize=1G 0 0 # mine\n" + DEBIAN,
    "wrong opts": "hugetlbfs /dev/hugepages1G hugetlbfs pagesize=2M 0 0  # old\n" + DEBIAN,
    "wrong src and passno": DEBIAN + "none /dev/hugepages1G hugetlbfs pagesize=1G 0 2\n",
    "four fields": DEBIAN + "hugetlbfs /dev/hugepages2M hugetlbfs pagesize=2M\n",
    "five fields": DEBIAN + "hugetlbfs /dev/hugepages2M hugetlbfs pagesize=2M 0\n",
    "duplicates": ("hugetlbfs /dev/hugepages1G hugetlbfs pagesize=1G 0 0\n" + DEBIAN
                   + "hugetlbfs\t/dev/hugepages1G hugetlbfs pagesize=2M 0 0\n"
                   + "hugetlbfs  /dev/hugepages1G  hugetlbfs  pagesize=1G  0  0\n"),
    "odd lines": "  # indented comment\n\t\nnot a mount line\na b c d e f g\n/dev/hugepages1G\n" + DEBIAN,
    "spaces escaped": DEBIAN + "//nas/my\\040share /mnt/my\\040share cifs ro 0 0\n",
}
ENTRIES = {
    "one": [G1],
    "two": [G1, M2],
    "escaped": [dict(G1, path="/mnt/my share", src="//nas/my share", fstype="cifs", opts="ro,a&b")],
}


def posix_present(monkeypatch, path, entry):
    """The real ansible.posix.mount, state present, on the file ``path``."""
    outcome = run_module(monkeypatch, posix_mount.main, dict(
        path=entry["path"], src=entry["src"], fstype=entry["fstype"], opts=entry["opts"],
        dump=entry["dump"], passno=entry["passno"], fstab=path, state="present"))
    assert not outcome.failed, outcome.result
    return outcome.result["changed"]


@pytest.mark.parametrize("entries", sorted(ENTRIES))
@pytest.mark.parametrize("fstab", sorted(FSTABS))
def test_the_same_bytes_as_ansible_posix_mount_and_each_finds_the_other_right(monkeypatch, tmp_path, fstab, entries):
    ours = put(tmp_path / "ours", FSTABS[fstab])
    theirs = put(tmp_path / "theirs", FSTABS[fstab])
    result = steps.fstab(Module(), ENTRIES[entries], str(tmp_path / "ours"))
    posix_changed = [entry["path"] for entry in ENTRIES[entries]
                     if posix_present(monkeypatch, theirs, entry)]
    assert read(ours) == read(theirs)
    assert result["changed_mounts"] == posix_changed
    assert result["changed"] == bool(posix_changed)
    # a host ansible.posix.mount converged: our step changes nothing (the upgrade) ...
    shutil.copy(theirs, ours)
    assert steps.fstab(Module(), ENTRIES[entries], str(tmp_path / "ours"))["changed"] is False
    # ... and ansible.posix.mount (the runtime mount task) finds our lines right
    assert not any(posix_present(monkeypatch, theirs, entry) for entry in ENTRIES[entries])


def test_the_pure_edit_matches_the_step(tmp_path):
    put(tmp_path, DEBIAN)
    text, paths = fstab_text(DEBIAN, [G1])
    steps.fstab(Module(), [G1], str(tmp_path))
    assert text == read(str(tmp_path / "etc" / "fstab")) and paths == ["/dev/hugepages1G"]


# ----------------------------------------------------------------------------- the audit

def test_the_audit_reads_the_fstab_lines_the_step_wrote(tmp_path):
    put(tmp_path, DEBIAN)
    steps.fstab(Module(), [G1], str(tmp_path))
    section = {"mounts": [dict(G1, size_kb=1048576, label="1G", pages=4)], "fstab": [G1]}
    seen = observe(Reader(str(tmp_path)), {"hugepages": section})["hugepages"]
    assert seen["fstab"] == {"/dev/hugepages1G": {"fstype": "hugetlbfs", "opts": "pagesize=1G"}}
    assert seen["mounts"] == {"/dev/hugepages1G": None}  # no /proc/self/mounts under this root
