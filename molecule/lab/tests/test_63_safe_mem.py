"""Safe memory defaults on the converged lab host (issue 13).

The lab policy pins lab-guest to node 1, so hugepages_ksm=auto turns KSM off: run is 2
(unmerged; the lab merges next to nothing) or 0 (stopped, with a plan warning), the same
value in the tmpfiles drop-in, and every unit that would turn KSM back on (ksmtuned,
RHEL's ksm.service) that is installed is stopped and disabled. The libvirt daemon that
serves QEMU (virtqemud or libvirtd, whichever runs) started after qemu.conf last changed,
so it uses the hugetlbfs mounts. Not run by the unit tests: molecule/lab only.
(To exercise the ksmtuned path, molecule/lab/prepare.yml would install the Debian package
ksmtuned before converge.)
"""

import pytest

KSM_RUN = "/sys/kernel/mm/ksm/run"
TMPFILES = "/etc/tmpfiles.d/kvmops-memory.conf"
KSM_UNITS = ("ksmtuned.service", "ksm.service")
UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system")


def installed(host, unit):
    return any(host.file("%s/%s" % (folder, unit)).exists for folder in UNIT_DIRS)


def systemctl(host, verb, unit):
    return host.run("systemctl %s %s", verb, unit).stdout.strip()


def test_ksm_is_off_now_and_at_boot(host):
    run = host.file(KSM_RUN).content_string.strip()
    assert run in ("0", "2")
    lines = [line for line in host.file(TMPFILES).content_string.splitlines() if not line.startswith("#")]
    assert "w %s - - - - %s" % (KSM_RUN, run) in lines


def test_ksm_run_reads_back_what_was_written(host):
    """Idempotence of the sysfs write: run keeps the value written (2 included)."""
    before = host.file(KSM_RUN).content_string.strip()
    host.run("sleep 2")
    assert host.file(KSM_RUN).content_string.strip() == before


@pytest.mark.parametrize("unit", KSM_UNITS)
def test_units_that_turn_ksm_back_on_are_stopped_and_disabled(host, unit):
    if not installed(host, unit):
        pytest.skip("%s is not installed on the lab host" % unit)
    assert systemctl(host, "is-active", unit) in ("inactive", "failed", "unknown")
    assert systemctl(host, "is-enabled", unit) in ("disabled", "masked")


def test_ksm_stays_off_after_ksmtuned_would_have_acted(host):
    """ksmtuned polls every KSM_MONITOR_INTERVAL (60 s); after that run is still off."""
    if not installed(host, "ksmtuned.service"):
        pytest.skip("ksmtuned is not installed on the lab host")
    host.run("sleep 65")
    assert host.file(KSM_RUN).content_string.strip() in ("0", "2")


def test_the_running_libvirt_daemon_has_read_the_current_qemu_conf(host):
    running = [daemon for daemon in ("virtqemud", "libvirtd")
               if systemctl(host, "is-active", daemon + ".service") == "active"]
    if not running:
        pytest.skip("no libvirt daemon runs now (socket activation): it reads qemu.conf when it starts")
    conf_mtime = int(host.check_output("stat -c %%Y %s", "/etc/libvirt/qemu.conf"))
    for daemon in running:
        started = host.check_output("systemctl show --timestamp=unix -P ActiveEnterTimestamp %s.service", daemon)
        assert started.startswith("@"), started
        assert int(started[1:].split(".")[0]) >= conf_mtime, "%s started before qemu.conf changed" % daemon


def test_only_one_libvirt_daemon_serves_qemu(host):
    active = [daemon for daemon in ("virtqemud", "libvirtd")
              if systemctl(host, "is-active", daemon + ".service") == "active"]
    assert len(active) <= 1, active
