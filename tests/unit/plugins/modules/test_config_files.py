"""config_files: owned files written whole, KEY= lines in files others own, through the
one writer; check mode predicts and writes nothing; a missing file is left missing."""

import os

from module_runner import run_module

from ansible_collections.kvmops.hypervisor.plugins.module_utils.apply.config_files import edit_lines
from ansible_collections.kvmops.hypervisor.plugins.modules import config_files

IRQBALANCE = """# irqbalance is a daemon process that distributes interrupts
#IRQBALANCE_ONESHOT=
#IRQBALANCE_BANNED_CPULIST=
#IRQBALANCE_ARGS=
"""


def run(monkeypatch, tmp_path, check_mode=False, **args):
    return run_module(monkeypatch, config_files.main, dict(args, root=str(tmp_path)), check_mode=check_mode)


def read(tmp_path, path):
    with open(os.path.join(str(tmp_path), path.lstrip("/"))) as handle:
        return handle.read()


def put(tmp_path, path, text, mode=0o644):
    full = os.path.join(str(tmp_path), path.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)
    os.chmod(full, mode)


def test_line_goes_after_the_packages_example_and_is_idempotent(monkeypatch, tmp_path):
    put(tmp_path, "/etc/default/irqbalance", IRQBALANCE)
    lines = {"/etc/default/irqbalance": {"IRQBALANCE_BANNED_CPULIST": "IRQBALANCE_BANNED_CPULIST=2-3",
                                         "IRQBALANCE_BANNED_CPUS": None}}
    first = run(monkeypatch, tmp_path, lines=lines)
    assert not first.failed and first.result["changed"] is True
    assert "skipped" not in first.result  # Ansible's own key: a value there hides the task's change
    assert read(tmp_path, "/etc/default/irqbalance").splitlines()[2:5] == [
        "#IRQBALANCE_BANNED_CPULIST=", "# Managed by kvmops.hypervisor: IRQBALANCE_BANNED_CPULIST",
        "IRQBALANCE_BANNED_CPULIST=2-3"]
    again = run(monkeypatch, tmp_path, lines=lines)
    assert again.result["changed"] is False


def test_duplicates_and_the_old_mask_are_removed_in_place():
    text = "A=1\nIRQBALANCE_BANNED_CPUS=0000000a\nX=0\n X = 1\nB=2\n"
    assert edit_lines(text, {"X": "X=5", "IRQBALANCE_BANNED_CPUS": None}) == (
        "A=1\n# Managed by kvmops.hypervisor: X\nX=5\nB=2\n")


def test_a_file_of_lines_keeps_its_mode(monkeypatch, tmp_path):
    put(tmp_path, "/etc/libvirt/qemu.conf", '#hugetlbfs_mount = "/dev/hugepages"\n', mode=0o600)
    lines = {"/etc/libvirt/qemu.conf": {"hugetlbfs_mount": 'hugetlbfs_mount = ["/dev/hugepages2M"]'}}
    assert run(monkeypatch, tmp_path, lines=lines).result["changed"] is True
    assert os.stat(os.path.join(str(tmp_path), "etc/libvirt/qemu.conf")).st_mode & 0o777 == 0o600
    assert run(monkeypatch, tmp_path, lines=lines).result["changed"] is False


def test_missing_file_of_lines_is_left_missing(monkeypatch, tmp_path):
    lines = {"/etc/default/irqbalance": {"IRQBALANCE_BANNED_CPULIST": "IRQBALANCE_BANNED_CPULIST=2-3"}}
    result = run(monkeypatch, tmp_path, lines=lines)
    assert result.result["changed"] is False and result.result["missing_files"] == ["/etc/default/irqbalance"]
    assert not os.path.exists(os.path.join(str(tmp_path), "etc/default/irqbalance"))


def test_owned_files_written_removed_and_predicted(monkeypatch, tmp_path):
    path = "/etc/systemd/system.conf.d/90-kvmops-cpuaffinity.conf"
    check = run(monkeypatch, tmp_path, check_mode=True, files={path: "[Manager]\nCPUAffinity=0-1\n"})
    assert check.result["changed"] is True and check.result["changed_files"] == [path]
    assert not os.path.exists(os.path.join(str(tmp_path), path.lstrip("/")))
    assert check.result["diff"][0]["after"] == "[Manager]\nCPUAffinity=0-1\n"
    assert run(monkeypatch, tmp_path, files={path: "[Manager]\nCPUAffinity=0-1\n"}).result["changed"] is True
    assert read(tmp_path, path) == "[Manager]\nCPUAffinity=0-1\n"
    assert run(monkeypatch, tmp_path, files={path: None}).result["changed"] is True
    assert not os.path.exists(os.path.join(str(tmp_path), path.lstrip("/")))
    assert run(monkeypatch, tmp_path, files={path: None}).result["changed"] is False


def test_bad_input_names_the_option(monkeypatch, tmp_path):
    bad = run(monkeypatch, tmp_path, lines={"/etc/x": {"A": "B=1"}})
    assert bad.failed and bad.result["msg"].startswith("lines[/etc/x][A]")
    bad = run(monkeypatch, tmp_path, files={"etc/x": "y"})
    assert bad.failed and bad.result["msg"].startswith("files:")


def test_a_written_line_carries_the_marker_and_a_released_key_removes_only_ours():
    written = edit_lines(IRQBALANCE, {"IRQBALANCE_BANNED_CPULIST": "IRQBALANCE_BANNED_CPULIST=2-3"})
    assert written.splitlines()[2:5] == ["#IRQBALANCE_BANNED_CPULIST=",
                                         "# Managed by kvmops.hypervisor: IRQBALANCE_BANNED_CPULIST",
                                         "IRQBALANCE_BANNED_CPULIST=2-3"]
    # released: our line and its marker go, the package's text is back as it was
    assert edit_lines(written, {"IRQBALANCE_BANNED_CPULIST": False}) == IRQBALANCE
    # the administrator's own line (no marker) stays when released, goes when null
    own = IRQBALANCE + "IRQBALANCE_BANNED_CPULIST=7\n"
    assert edit_lines(own, {"IRQBALANCE_BANNED_CPULIST": False}) == own
    assert edit_lines(own, {"IRQBALANCE_BANNED_CPULIST": None}) == IRQBALANCE


def test_a_line_written_again_keeps_one_marker():
    text = "A=1\n# Managed by kvmops.hypervisor: X\nX=1\nB=2\n"
    assert edit_lines(text, {"X": "X=2"}) == "A=1\n# Managed by kvmops.hypervisor: X\nX=2\nB=2\n"
    assert edit_lines(text, {"X": "X=1"}) == text


def test_release_in_check_mode_predicts_and_writes_nothing(monkeypatch, tmp_path):
    mine = IRQBALANCE + "# Managed by kvmops.hypervisor: IRQBALANCE_BANNED_CPULIST\nIRQBALANCE_BANNED_CPULIST=1\n"
    put(tmp_path, "/etc/default/irqbalance", mine)
    lines = {"/etc/default/irqbalance": {"IRQBALANCE_BANNED_CPULIST": False}}
    checked = run(monkeypatch, tmp_path, check_mode=True, lines=lines)
    assert checked.result["changed"] is True
    assert read(tmp_path, "/etc/default/irqbalance") == mine
    assert run(monkeypatch, tmp_path, lines=lines).result["changed"] is True
    assert read(tmp_path, "/etc/default/irqbalance") == IRQBALANCE
    assert run(monkeypatch, tmp_path, lines=lines).result["changed"] is False
