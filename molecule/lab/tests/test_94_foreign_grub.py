"""Issue 21 on the lab host: a foreign /etc/default/grub.d/*.cfg that grub-mkconfig would
choke on (a shell error), or that sets an argument kvmops plans to another value, makes
kernel_cmdline refuse before anything is written, naming the file. The play adds
nvme.write_queues=1 (molecule/lab/nvme_reboot.yml, reboots not allowed); afterwards no file
of /etc or /boot is newer than the run's start (but the failed run's lock) and grub.cfg
and the drop-ins are the same (sha256).
"""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

SCENARIO = Path(__file__).resolve().parents[1]
FOREIGN = "/etc/default/grub.d/50-site-fault.cfg"
STAMP = "/run/kvmops-fault-foreign"

CASES = {
    "shell error": ('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX quiet\nif then\n',
                    r"not valid shell .*grub-mkconfig sources it"),
    "another value": ('GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX nvme.write_queues=2"\n',
                      r"nvme\.write_queues=2 already set in"),
}


def play(tmp_path):
    extra = tmp_path / "foreign.yml"
    extra.write_text(yaml.safe_dump({"nvme_queues_write_queues": 1, "kvmops_reboot_allowed": False}))
    command = ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(SCENARIO / "nvme_reboot.yml"),
               "-e", "@%s" % (SCENARIO / "vars" / "policy.yml"), "-e", "@%s" % extra]
    proc = subprocess.run(command, env=dict(os.environ), capture_output=True, text=True, check=False)
    return proc.returncode, " ".join((proc.stdout + proc.stderr).split())


@pytest.mark.extra
@pytest.mark.parametrize("case", sorted(CASES))
def test_a_foreign_grub_dropin_is_refused_naming_it(host, tmp_path, case):
    text, expected = CASES[case]
    grub = host.check_output("sha256sum /boot/grub/grub.cfg /etc/default/grub.d/*.cfg")
    try:
        host.check_output("printf '%%s' %s > %s", text, FOREIGN)
        host.check_output("touch %s", STAMP)
        rc, output = play(tmp_path)
        assert rc != 0, output[-3000:]
        assert FOREIGN in output and re.search(expected, output), output[-3000:]
        # the run lock of the failed run stays (the next run takes it over): not a change
        newer = host.check_output("find /etc /boot /var/lib/kvmops -xdev -type f -newer %s ! -path %s "
                                  "! -name run.lock", STAMP, FOREIGN)
        assert newer.strip() == "", newer
        assert "nvme.write_queues=1" not in host.check_output("cat /etc/default/grub.d/*kvmops*.cfg")
    finally:
        host.run("rm -f %s %s", FOREIGN, STAMP)
    assert host.check_output("sha256sum /boot/grub/grub.cfg /etc/default/grub.d/*.cfg") == grub
