"""qemu_conf_lines: libvirt's qemu.conf edited line by line, read back with the virConf
grammar before anything is written; check mode writes nothing; second run unchanged."""

import os

from module_runner import run_module

from ansible_collections.kvmops.hypervisor.plugins.modules import qemu_conf_lines

PATH = "/etc/libvirt/qemu.conf"
# Excerpts of libvirt's qemu.conf.in as Debian installs it (every setting commented out).
QEMU_CONF = """# Master configuration file for the QEMU driver.
#security_driver = "selinux"
#security_default_confined = 1
#security_require_confined = 1
#user = "libvirt-qemu"
#cgroup_device_acl = [
#    "/dev/null", "/dev/full", "/dev/zero",
#]
#seccomp_sandbox = 1
#namespaces = [ "mount" ]
"""
LINES = {"seccomp_sandbox": "seccomp_sandbox = 1", "security_driver": 'security_driver = "apparmor"',
         "namespaces": 'namespaces = [ "mount" ]', "user": False}


def put(tmp_path, text, mode=0o600):
    full = os.path.join(str(tmp_path), PATH.lstrip("/"))
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w") as handle:
        handle.write(text)
    os.chmod(full, mode)
    return full


def read(full):
    with open(full) as handle:
        return handle.read()


def run(monkeypatch, tmp_path, lines, check_mode=False):
    return run_module(monkeypatch, qemu_conf_lines.main, {"path": PATH, "lines": lines, "root": str(tmp_path)},
                      check_mode=check_mode)


def test_lines_after_their_examples_then_unchanged(monkeypatch, tmp_path):
    full = put(tmp_path, QEMU_CONF)
    first = run(monkeypatch, tmp_path, LINES)
    assert not first.failed and first.result["changed"] is True
    text = read(full)
    assert ('#security_driver = "selinux"\n# Managed by kvmops.hypervisor: security_driver\n'
            'security_driver = "apparmor"\n') in text
    assert "#seccomp_sandbox = 1\n# Managed by kvmops.hypervisor: seccomp_sandbox\nseccomp_sandbox = 1\n" in text
    assert first.result["settings"] == {"security_driver": "apparmor", "seccomp_sandbox": 1, "namespaces": ["mount"]}
    assert oct(os.stat(full).st_mode & 0o777) == "0o600"  # qemu.conf keeps its mode
    second = run(monkeypatch, tmp_path, LINES)
    assert second.result["changed"] is False


def test_check_mode_writes_nothing_and_shows_the_diff(monkeypatch, tmp_path):
    full = put(tmp_path, QEMU_CONF)
    result = run(monkeypatch, tmp_path, LINES, check_mode=True)
    assert result.result["changed"] is True
    assert "seccomp_sandbox = 1\n" in result.result["diff"]["after"]
    assert read(full) == QEMU_CONF


def test_an_administrators_multi_line_list_is_not_broken(monkeypatch, tmp_path):
    text = QEMU_CONF + 'cgroup_device_acl = [\n  "/dev/null", "/dev/kvm",\n]\n'
    full = put(tmp_path, text)
    result = run(monkeypatch, tmp_path, {"cgroup_device_acl": 'cgroup_device_acl = [ "/dev/null" ]'})
    assert result.failed
    assert "libvirt would refuse it" in result.result["msg"]
    assert read(full) == text


def test_a_bad_value_elsewhere_in_the_file_is_refused_before_writing(monkeypatch, tmp_path):
    text = QEMU_CONF + 'max_files = "lots"\n'
    full = put(tmp_path, text)
    result = run(monkeypatch, tmp_path, LINES)
    assert result.failed
    assert result.result["msg"].startswith("lines: %s not written, libvirt would refuse it: " % PATH)
    assert "max_files: must be an integer" in result.result["msg"]
    assert read(full) == text


def test_a_relative_path_is_refused(monkeypatch, tmp_path):
    put(tmp_path, QEMU_CONF)
    result = run_module(monkeypatch, qemu_conf_lines.main, {"path": "qemu.conf", "lines": LINES, "root": str(tmp_path)})
    assert result.failed and result.result["msg"] == "path: 'qemu.conf' is not an absolute path; give /etc/libvirt/qemu.conf"


def test_released_line_of_ours_goes_the_administrators_stays(monkeypatch, tmp_path):
    full = put(tmp_path, QEMU_CONF + '# Managed by kvmops.hypervisor: user\nuser = "qemu"\ngroup = "kvm"\n')
    result = run(monkeypatch, tmp_path, {"user": False, "group": False})
    assert result.result["changed"] is True
    assert 'user = "qemu"' not in read(full)
    assert 'group = "kvm"' in read(full)


def test_missing_file_left_missing(monkeypatch, tmp_path):
    result = run(monkeypatch, tmp_path, LINES)
    assert not result.failed and result.result == {"changed": False, "missing": True}
    assert not os.path.exists(os.path.join(str(tmp_path), PATH.lstrip("/")))


def test_a_line_that_does_not_set_its_key_is_refused(monkeypatch, tmp_path):
    put(tmp_path, QEMU_CONF)
    result = run(monkeypatch, tmp_path, {"seccomp_sandbox": "user = 1"})
    assert result.failed and "must be one line that sets seccomp_sandbox" in result.result["msg"]
