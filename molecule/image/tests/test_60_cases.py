"""Beyond site.yml's order, on two fresh chroots (tests/conftest.py, cases):

- alone: a bad variable, a guest that cannot be placed and tuned's own mode without tuned
  are refused by site.yml, naming the variable, before any file changes; then each applying role alone (roles.yml): its
  first play converges, its second changes nothing, and it writes what site.yml writes;
- reversed: site.yml in check mode writes nothing; then all applying roles in one play in
  reverse order: converges, a second play changes nothing, the files are site.yml's; then
  site.yml with private_role_vars (the roles plan their own sections) changes nothing.
"""

import json

import pytest

DROPIN = "/etc/default/grub.d/90-kvmops-%s.cfg"
ALONE = ["tuned detect, ignore", "seccomp_sandbox", "sriov_vhost iommu", "nvme_queues", "sysctl_net", "hugepages", "numa_pinning isolcpus",
         "numa_pinning released"]  # roles.yml's order


def explain(run):
    return "%r, output in %s.log:\n%s" % (run, run.name.replace("/", "."), run.tail())


def dropin_args(text):
    return text.rsplit("$GRUB_CMDLINE_LINUX ", 1)[1].split('"')[0].split()


@pytest.mark.parametrize("name", ["alone", "reversed"])
def test_roles_yml_converges(cases, name):
    run = cases[name].roles
    assert run.rc == 0 and run.recap[name]["failed"] == 0, explain(run)


@pytest.mark.parametrize("name, steps", [("alone", ALONE), ("reversed", ["reversed"])])
def test_each_step_converges_then_changes_nothing(cases, name, steps):
    """Play by play: a step's first play changes the fresh chroot, its second changes nothing."""
    plays = cases[name].roles.plays()
    assert len(plays) == 2 * len(steps), explain(cases[name].roles)
    for step, (first, second) in zip(steps, zip(plays[::2], plays[1::2])):
        if step.startswith("tuned"):
            # no tuned in the chroot: detect finds nothing to compare, ignore does nothing
            assert not first[1], "%s: the first play changed %s" % (step, first[1])
        else:
            assert first[1], "%s: the first play changed nothing (%s)" % (step, first[0])
        assert not second[1], "%s: the second play changed %s" % (step, second[1])


def test_reversed_writes_what_site_yml_writes(cases, site_files, helpers):
    """Same files, same contents (each chroot's own root UUID aside, in grub.cfg)."""
    assert helpers.comparable(cases["reversed"].roles.files) == helpers.comparable(site_files)


def test_site_yml_with_private_role_vars_plans_the_same(cases, helpers):
    """With private_role_vars the roles' options are hidden from site.yml's planning task:
    its pre_task plans the sections left out through the roles' own plan.yml (tuned's), and
    on the chroot the reversed roles converged, the same plan changes nothing."""
    run = cases["reversed"].private
    assert run.rc == 0, explain(run)
    assert "included: kvmops.hypervisor.tuned for reversed" in run.output, explain(run)
    assert run.changed("reversed") == 0, explain(run)
    assert helpers.comparable(run.files) == helpers.comparable(cases["reversed"].roles.files)


@pytest.mark.parametrize("role", ["numa_pinning", "hugepages", "sysctl_net", "nvme_queues", "sriov_vhost",
                                  "seccomp_sandbox"])
def test_role_alone_writes_what_it_writes_in_site_yml(cases, site_files, helpers, role):
    """numa_pinning: site.yml has no policy, so it partitions nothing and writes none of
    numa_pinning's files; alone, after its no-policy play took back what the isolcpus play
    wrote, nothing of it is left either. sriov_vhost: alone it has the IOMMU, so its kernel
    argument drop-in comes on top of what it writes in site.yml (test_sriov_vhost_alone_*)."""
    alone = helpers.comparable(cases["alone"].roles.files)
    site = helpers.comparable(site_files)
    own = {path: text for path, text in site.items() if helpers.OWNERS.get(path) == role}
    assert bool(own) == (role != "numa_pinning"), "site.yml wrote %s of %s's" % (sorted(own), role)
    extra = {DROPIN % "sriov_vhost"} if role == "sriov_vhost" else set()
    assert not extra & set(own), "site.yml (no IOMMU asked) wrote %s" % sorted(extra & set(own))
    assert {path: text for path, text in alone.items()
            if helpers.OWNERS.get(path) == role and path not in extra} == own


def test_alone_writes_nothing_else(cases, site_files, helpers):
    """site.yml's files, plus the IOMMU drop-in the sriov_vhost plays asked for and the
    record of the kernel arguments numa_pinning's no-policy play removed (they stay running
    until the next boot, so the reboot role and the audit must know); the boot loader
    configuration has every drop-in's arguments, in file name order. No drop-in of the
    former owner iommu."""
    alone = helpers.comparable(cases["alone"].roles.files)
    assert sorted(alone) == sorted(set(site_files) | {DROPIN % "sriov_vhost", "/run/kvmops/kernel_cmdline.removed"})
    assert DROPIN % "iommu" not in alone
    appended = []
    for path in sorted(path for path in alone if path.startswith("/etc/default/grub.d/90-kvmops-")):
        appended += dropin_args(alone[path])
    for entry in helpers.grub_linux_args(alone[helpers.GRUB_CFG]):
        assert [arg for arg in entry if arg in appended] == appended, entry


def test_sriov_vhost_alone_writes_the_iommu_dropin(cases, helpers):
    """kvmops_plan_iommu and kvmops_plan_iommu_passthrough true (the former plan-role
    variables), then sriov_vhost_iommu and sriov_vhost_iommu_passthrough true (the second
    play changed nothing: the same arguments): iommu=pt, and intel_iommu=on on an Intel CPU
    (the controller's: the chroot's facts are the running machine's; AMD's IOMMU driver is
    on by default), owner sriov_vhost."""
    files = helpers.comparable(cases["alone"].roles.files)
    with open("/proc/cpuinfo") as cpuinfo:
        intel = "GenuineIntel" in cpuinfo.read()
    dropin = files[DROPIN % "sriov_vhost"]
    assert "owner sriov_vhost" in dropin
    assert dropin_args(dropin) == (["intel_iommu=on"] if intel else []) + ["iommu=pt"]


def test_check_mode_writes_nothing(cases):
    run = cases["reversed"].check
    assert run.rc == 0, explain(run)
    assert run.changed("reversed") > 0, "check mode on a fresh chroot predicted no change: " + explain(run)
    assert run.files == {}, sorted(run.files)


@pytest.mark.parametrize("attr, variable, message", [
    ("swappiness", "hugepages_swappiness", "must be from 0 to 200"),
    # 64 vCPUs fit on no host of the lab's size: "guests[big].vcpus: ... larger than the host".
    ("guest", "guests[big]", "larger than the host"),
    # the chroot has no tuned: own cannot write and activate a profile
    ("tuned", "kvmops_tuned_mode", "tuned is not installed"),
])
def test_refused_before_any_file_changes(cases, attr, variable, message):
    run = getattr(cases["alone"], attr)
    assert run.rc != 0, explain(run)
    assert run.recap["alone"]["failed"] == 1, explain(run)
    failure = [line for line in run.output.splitlines() if line.startswith("fatal: [alone]")]
    assert failure and variable in failure[0] and message in failure[0], explain(run)
    assert run.files == {}, "the refused run wrote %s" % sorted(run.files)


def task_outcomes(run, name):
    """The result lines of the task named ``name`` (the lines after its TASK line)."""
    lines, inside = [], False
    for line in run.output.splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [", "PLAY ")):
            inside = line.startswith("TASK [%s]" % name)
        elif inside and line.split(":", 1)[0] in ("ok", "changed", "skipping", "included", "failed", "fatal"):
            lines.append(line)
    return lines


def test_converged_site_yml_leaves_the_reboot_role_out(cases):
    """Nothing waits on the converged chroot (grub.cfg current; in image mode the running
    kernel does not count): the facts gathered at the start say so, no role changed the boot
    configuration, so the reboot role is not even included (one remote run fewer)."""
    run = cases["reversed"].private
    assert task_outcomes(run, "Reboot where owned kernel arguments wait for it (only when allowed)") == [
        "skipping: [reversed]"], explain(run)
    assert "kvmops.hypervisor.reboot :" not in run.output, explain(run)


def test_a_stale_grub_cfg_runs_the_reboot_role_which_regenerates_it(cases, helpers):
    """grub.cfg without the drop-ins' arguments (a run that never reached its handler), then
    site.yml --tags reboot (AWX's "reboot window": no role runs, so no role's kernel_cmdline
    step sees it): the facts gathered at the start do, site.yml includes the reboot role, and
    its comparison regenerates grub.cfg."""
    removed = json.loads((helpers.CASES / "reversed.stale-removed.json").read_text())
    assert removed, "the drop-ins append no argument to take out of grub.cfg"
    run = cases["reversed"].stale
    assert run.rc == 0, explain(run)
    assert "included: kvmops.hypervisor.reboot for reversed" in run.output, explain(run)
    assert run.changed_tasks() == ["kvmops.hypervisor.reboot : Compare the next boot's kernel arguments with the running kernel's"], explain(run)
    entries = helpers.grub_linux_args(run.files[helpers.GRUB_CFG])
    assert entries and all(set(removed) <= set(args) for args in entries), entries
