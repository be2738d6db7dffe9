"""Beyond site.yml's order, each on a fresh chroot of its own (tests/conftest.py, cases):

- each applying role alone, and all of them in reverse order (roles.yml): the first run
  converges, the second changes nothing, and they write what site.yml writes;
- site.yml in check mode writes nothing; a bad variable and a guest that cannot be placed
  are refused, naming the variable, before any file changes.
"""

import pytest

ALONE = ["plan", "numa_pinning", "hugepages", "sysctl_net"]
RUNS = ["alone_%s" % role for role in ALONE] + ["reversed"]


def explain(run):
    return "%r, output in %s.log:\n%s" % (run, run.name.replace("/", "."), run.tail())


@pytest.mark.parametrize("name", RUNS)
def test_converges(cases, name):
    run = cases[name].first
    assert run.rc == 0 and run.recap[name]["failed"] == 0, explain(run)
    assert run.changed(name) > 0, explain(run)


@pytest.mark.parametrize("name", RUNS)
def test_second_run_changes_nothing(cases, name):
    run = cases[name].second
    assert run is not None, "the first run failed"
    assert run.rc == 0, explain(run)
    assert run.changed(name) == 0, "changed: %s; %s" % (run.changed_tasks(), explain(run))


def test_reversed_writes_what_site_yml_writes(cases, site_files, helpers):
    """Same files, same contents (each chroot's own root UUID aside, in grub.cfg)."""
    assert helpers.comparable(cases["reversed"].runs[-1].files) == helpers.comparable(site_files)


@pytest.mark.parametrize("role", ["numa_pinning", "hugepages", "sysctl_net"])
def test_role_alone_writes_what_it_writes_in_site_yml(cases, site_files, helpers, role):
    alone = helpers.comparable(cases["alone_" + role].runs[-1].files)
    site = helpers.comparable(site_files)
    own = {path: text for path, text in site.items() if helpers.OWNERS.get(path) == role}
    assert own, "site.yml wrote nothing of %s's" % role
    assert {path: text for path, text in alone.items() if path != helpers.GRUB_CFG} == own
    # The boot loader configuration is regenerated when the role writes kernel arguments,
    # with only its own (the other roles' drop-ins are not there).
    dropin = "/etc/default/grub.d/90-kvmops-%s.cfg" % role
    assert (helpers.GRUB_CFG in alone) == (dropin in own)
    if dropin in own:
        args = own[dropin].rsplit('$GRUB_CMDLINE_LINUX ', 1)[1].split('"')[0].split()
        for entry in helpers.grub_linux_args(alone[helpers.GRUB_CFG]):
            assert entry[-len(args):] == args or entry[-len(args) - 1:-1] == args, entry


def test_plan_alone_writes_the_iommu_dropin(cases, helpers):
    """kvmops_plan_iommu and kvmops_plan_iommu_passthrough true: iommu=pt, and intel_iommu=on
    on an Intel CPU (the controller's: the chroot's facts are the running machine's)."""
    files = helpers.comparable(cases["alone_plan"].runs[-1].files)
    assert sorted(files) == sorted([helpers.GRUB_CFG, "/etc/default/grub.d/90-kvmops-iommu.cfg"])
    with open("/proc/cpuinfo") as cpuinfo:
        intel = "GenuineIntel" in cpuinfo.read()
    expected = (["intel_iommu=on"] if intel else []) + ["iommu=pt"]
    assert 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX %s"' % " ".join(expected) in files[
        "/etc/default/grub.d/90-kvmops-iommu.cfg"]
    for entry in helpers.grub_linux_args(files[helpers.GRUB_CFG]):
        assert "iommu=pt" in entry, entry


def test_check_mode_writes_nothing(cases):
    run = cases["pristine"].check
    assert run.rc == 0, explain(run)
    assert run.changed("pristine") > 0, "check mode on a fresh chroot predicted no change: " + explain(run)
    assert run.files == {}, sorted(run.files)


@pytest.mark.parametrize("attr, variable, message", [
    ("swappiness", "hugepages_swappiness", "must be from 0 to 200"),
    # 64 vCPUs fit on no host of the lab's size: "guests[big].vcpus: ... larger than the host".
    ("guest", "guests[big]", "larger than the host"),
])
def test_refused_before_any_file_changes(cases, attr, variable, message):
    run = getattr(cases["pristine"], attr)
    assert run.rc != 0, explain(run)
    assert run.recap["pristine"]["failed"] == 1, explain(run)
    failure = [line for line in run.output.splitlines() if line.startswith("fatal: [pristine]")]
    assert failure and variable in failure[0] and message in failure[0], explain(run)
    assert run.files == {}, "the refused run wrote %s" % sorted(run.files)
