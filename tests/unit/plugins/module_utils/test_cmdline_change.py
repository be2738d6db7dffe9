"""Planning a kernel_cmdline call: the Change per backend, and backend detection."""

import pytest

from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.backends import (
    detect_backend,
    grubby_commands,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.change import plan_change
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.owners import (
    parse_grub_dropin,
    render_grub_dropin,
    render_record,
)
from ansible_collections.kvmops.hypervisor.plugins.module_utils.cmdline.tokens import CmdlineError
from ansible_collections.kvmops.hypervisor.plugins.module_utils.common.sysfs import Reader
from sysfs_builder import write_file


put = write_file


# --------------------------------------------------------------------------- plans

def debian(tmp_path, linux="", default="quiet", cfg=True):
    put(tmp_path, "/etc/default/grub",
        'GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="%s"\nGRUB_CMDLINE_LINUX="%s"\n' % (default, linux))
    if cfg:
        put(tmp_path, "/boot/grub/grub.cfg",
            "set default=\"0\"\nmenuentry 'Debian' {\n\tlinux /vmlinuz root=/dev/vda1 ro %s %s\n}\n"
            % (linux, default))
    put(tmp_path, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro %s %s\n" % (linux, default))
    return Reader(str(tmp_path))


def which_none(_name):
    return None


def which_fake(name):
    return "/usr/sbin/" + name


def test_plan_grub_new_owner(tmp_path):
    reader = debian(tmp_path)
    change = plan_change(reader, "hugepages", ["hugepagesz=1G", "hugepages=0:4"], which=which_fake)
    path = "/etc/default/grub.d/90-kvmops-hugepages.cfg"
    assert list(change.files) == [path] and change.regenerate and change.changed
    assert change.before == "quiet" and change.after == "hugepagesz=1G hugepages=0:4 quiet"
    assert change.pending == ["BOOT_IMAGE=/vmlinuz", "root=/dev/vda1", "ro", "hugepagesz=1G",
                              "hugepages=0:4", "quiet"]
    assert change.owned_keys == {"hugepagesz", "hugepages"}


def test_plan_grub_refuses_separator_in_grub_cmdline_linux(tmp_path):
    reader = debian(tmp_path, linux="ro -- single")
    with pytest.raises(CmdlineError, match="would be handed to init"):
        plan_change(reader, "x", ["isolcpus=1"], which=which_fake)


def test_plan_grub_later_file_resetting_cmdline_is_an_error(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/99-local.cfg", 'GRUB_CMDLINE_LINUX="console=tty0"\n')
    with pytest.raises(CmdlineError, match="sourced after"):
        plan_change(reader, "x", ["isolcpus=1"], which=which_fake)


def test_plan_grub_conflict_between_owners(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/90-kvmops-numa_pinning.cfg",
        render_grub_dropin("numa_pinning", ["isolcpus=2-5"]))
    with pytest.raises(CmdlineError) as info:
        plan_change(reader, "other", {"isolcpus": "1"}, which=which_fake)
    assert "'numa_pinning'" in str(info.value) and "'other'" in str(info.value)


def test_plan_grub_absent_removes_only_this_owner(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/90-kvmops-a.cfg", render_grub_dropin("a", ["x=1", "y"]))
    put(tmp_path, "/etc/default/grub.d/90-kvmops-b.cfg", render_grub_dropin("b", ["z=2"]))
    change = plan_change(reader, "a", None, state="absent", which=which_fake)
    assert change.files == {"/etc/default/grub.d/90-kvmops-a.cfg": None}
    assert change.after == "z=2 quiet" and change.before == "x=1 y z=2 quiet"
    assert change.removed == ["x=1", "y"] and {"x", "y", "z"} <= change.owned_keys
    # args of an absent call are validated, and every token of the owner goes
    with_args = plan_change(reader, "a", ["y"], state="absent", which=which_fake)
    assert with_args.files == change.files
    with pytest.raises(CmdlineError, match="args.bad"):
        plan_change(reader, "a", {"bad": "$x"}, state="absent", which=which_fake)
    # a shorter list with state present removes just the missing token
    partial = plan_change(reader, "a", ["x=1"], which=which_fake)
    assert parse_grub_dropin(partial.files["/etc/default/grub.d/90-kvmops-a.cfg"], "a") == ["x=1"]
    assert partial.removed == ["y"] and "y" in partial.owned_keys


def test_plan_grub_nothing_to_do_is_unchanged(tmp_path):
    reader = debian(tmp_path, linux="x=1")
    # identical token already in /etc/default/grub: nothing to write
    change = plan_change(reader, "a", ["x=1"], which=which_fake)
    assert not change.changed and change.skipped == ["x=1"] and change.files == {}


def test_plan_grub_stale_grub_cfg_asks_for_regeneration(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/90-kvmops-a.cfg", render_grub_dropin("a", ["x=1"]))
    change = plan_change(reader, "a", ["x=1"], which=which_fake)
    assert change.files == {} and change.regenerate and change.changed


def test_plan_file_backend(tmp_path):
    put(tmp_path, "/etc/kernel/cmdline", "root=/dev/vda2 rw -- single\n")
    reader = Reader(str(tmp_path))
    change = plan_change(reader, "a", ["isolcpus=2"], backend="kernel_cmdline_file")
    assert change.files["/etc/kernel/cmdline"] == "root=/dev/vda2 rw isolcpus=2 -- single\n"
    assert change.files["/etc/kvmops/kernel_cmdline/a.args"].endswith("\nisolcpus=2\n")
    assert change.before == "root=/dev/vda2 rw -- single"


def test_plan_file_backend_without_file_starts_from_running_line(tmp_path):
    put(tmp_path, "/proc/cmdline", "BOOT_IMAGE=/vmlinuz initrd=\\initrd root=/dev/vda2 rw\n")
    change = plan_change(Reader(str(tmp_path)), "a", ["x"], backend="kernel_cmdline_file")
    assert change.files["/etc/kernel/cmdline"] == "root=/dev/vda2 rw x\n"


def bls_host(tmp_path, options=("root=/dev/vda2 ro", "root=/dev/vda2 ro")):
    for number, opts in enumerate(options):
        put(tmp_path, "/boot/loader/entries/m-5.14.%d.conf" % number,
            "title T%d\nversion 5.14.%d\nlinux /vmlinuz-5.14.%d\noptions %s\n" % (number, number, number, opts))
    return Reader(str(tmp_path))


def test_plan_grubby_commands(tmp_path):
    reader = bls_host(tmp_path)
    assert detect_backend(reader, which_fake) == "grubby"
    change = plan_change(reader, "sriov", {"intel_iommu": "on", "iommu": "pt"}, which=which_fake)
    assert change.commands == [["/usr/sbin/grubby", "--update-kernel=ALL", "--args=intel_iommu=on iommu=pt"]]
    assert "/etc/kvmops/kernel_cmdline/sriov.args" in change.files
    assert change.after == "root=/dev/vda2 ro intel_iommu=on iommu=pt"


def test_plan_grubby_replaces_and_removes_owned_tokens(tmp_path):
    reader = bls_host(tmp_path, ("root=/dev/vda2 ro iommu=pt intel_iommu=on", "root=/dev/vda2 ro iommu=pt"))
    put(tmp_path, "/etc/kvmops/kernel_cmdline/sriov.args", render_record("sriov", ["intel_iommu=on", "iommu=pt"]))
    put(tmp_path, "/etc/kernel/cmdline", "root=/dev/vda2 ro intel_iommu=on iommu=pt\n")
    change = plan_change(reader, "sriov", {"iommu": "pt"}, which=which_fake)
    assert change.commands == [["/usr/sbin/grubby", "--update-kernel=ALL", "--remove-args=intel_iommu=on"]]
    assert change.files["/etc/kernel/cmdline"] == "root=/dev/vda2 ro iommu=pt\n"
    assert change.removed == ["intel_iommu=on"] and change.owned_keys == {"intel_iommu", "iommu"}
    # the older entry already lacked intel_iommu=on, the newer had iommu=pt: nothing to add
    again = plan_change(reader, "sriov", {"intel_iommu": "on", "iommu": "pt"}, which=which_fake)
    assert again.commands == [["/usr/sbin/grubby", "--update-kernel=ALL", "--args=intel_iommu=on"]]
    assert again.files == {}


def test_plan_grubby_refuses_repeated_names(tmp_path):
    reader = bls_host(tmp_path)
    with pytest.raises(CmdlineError, match="repeated names"):
        plan_change(reader, "hugepages", ["hugepagesz=1G", "hugepages=2", "hugepagesz=2M", "hugepages=9"],
                    backend="grubby", which=which_fake)


def test_detect_backend(tmp_path):
    with pytest.raises(CmdlineError, match="set backend"):
        detect_backend(Reader(str(tmp_path)), which_none)
    reader = bls_host(tmp_path)
    assert detect_backend(reader, which_none) == "kernel_cmdline_file"
    put(tmp_path, "/etc/default/grub", "")
    assert detect_backend(reader, which_none) == "grub"
    assert detect_backend(reader, which_fake) == "grubby"


def test_detect_backend_debian_without_grub_yet(tmp_path):
    put(tmp_path, "/etc/debian_version", "12.5\n")
    assert detect_backend(Reader(str(tmp_path)), which_none) == "grub"
    put(tmp_path, "/etc/kernel/cmdline", "root=/dev/vda1\n")
    assert detect_backend(Reader(str(tmp_path)), which_none) == "kernel_cmdline_file"


def test_grubby_commands_order():
    assert grubby_commands("grubby", ["a=1"], ["b"]) == [
        ["grubby", "--update-kernel=ALL", "--remove-args=b"],
        ["grubby", "--update-kernel=ALL", "--args=a=1"]]
    assert grubby_commands("grubby", [], []) == []


# ------------------------------------------------ foreign GRUB files (issue 21, faults)

def sh_syntax(reader):
    """The module's shell check, with the real /bin/sh: `sh -n FILE` (reads, runs nothing)."""
    import subprocess

    def check(relpath):
        proc = subprocess.run(["sh", "-n", reader.path(relpath)], capture_output=True, text=True, check=False)
        return None if proc.returncode == 0 else (proc.stderr.strip() or "exit %d" % proc.returncode)
    return check


def test_foreign_dropin_with_a_shell_error_is_refused_naming_the_file(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/50-vendor.cfg", 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX quiet\nif then\n')
    with pytest.raises(CmdlineError) as info:
        plan_change(reader, "x", ["isolcpus=1"], which=which_fake, shell_check=sh_syntax(reader))
    message = str(info.value)
    assert message.startswith("/etc/default/grub.d/50-vendor.cfg: ")
    assert "grub-mkconfig" in message


def test_shell_error_in_etc_default_grub_is_refused(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub", 'GRUB_CMDLINE_LINUX="ro\n')
    with pytest.raises(CmdlineError, match=r"^/etc/default/grub: "):
        plan_change(reader, "x", ["isolcpus=1"], which=which_fake, shell_check=sh_syntax(reader))


def test_kvmops_dropins_and_valid_foreign_files_pass_the_shell_check(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/50-vendor.cfg", 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX console=ttyS0"\n')
    checked = []
    real = sh_syntax(reader)

    def spy(relpath):
        checked.append(relpath)
        return real(relpath)
    change = plan_change(reader, "x", ["isolcpus=1"], which=which_fake, shell_check=spy)
    assert change.changed
    assert checked == ["/etc/default/grub", "/etc/default/grub.d/50-vendor.cfg"]


def test_foreign_dropin_with_another_value_is_named(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/05-site.cfg", 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX isolcpus=1"\n')
    with pytest.raises(CmdlineError) as info:
        plan_change(reader, "numa_pinning", ["isolcpus=2-3"], which=which_fake)
    assert "isolcpus=1 already set in /etc/default/grub.d/05-site.cfg" in str(info.value)


def test_later_foreign_dropin_resetting_the_line_is_named(tmp_path):
    reader = debian(tmp_path)
    put(tmp_path, "/etc/default/grub.d/99-local.cfg", 'GRUB_CMDLINE_LINUX="console=tty0"\n')
    with pytest.raises(CmdlineError) as info:
        plan_change(reader, "x", ["isolcpus=1"], which=which_fake)
    assert "/etc/default/grub.d/99-local.cfg" in str(info.value)
