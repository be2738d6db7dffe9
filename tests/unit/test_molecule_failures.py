"""tools/molecule_failures.py: what tools/molecule-test.sh prints last when a scenario
fails, so a CI log that keeps only its tail still says what failed."""

import importlib.util
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "tools", "molecule_failures.py")


def load():
    spec = importlib.util.spec_from_file_location("molecule_failures", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Shaped as ansible-playbook and molecule print them (colours included).
CONVERGE = """\
INFO     [lab > converge] Executing

PLAY [Tune and harden KVM hypervisor hosts] ************************************

TASK [kvmops.hypervisor.plan : Take this host's kvmops run lock] ***************
ok: [kvmlab]

TASK [Probe that may fail] *****************************************************
\x1b[0;31mfatal: [kvmlab]: FAILED! => {"changed": false, "msg": "probe"}\x1b[0m
...ignoring

TASK [kvmops.hypervisor.hugepages : Allocate the huge pages per NUMA node now] ***
\x1b[0;31mfatal: [kvmlab]: FAILED! => {"changed": false, "msg": "node 1 short: 80 asked, 12 allocated"}\x1b[0m

PLAY RECAP *********************************************************************
kvmlab                     : ok=30   changed=12   unreachable=0    failed=1    skipped=4

ERROR    Ansible return code was 2, command was: ansible-playbook converge.yml
"""


def test_the_failed_task_comes_first_with_its_play_task_and_message():
    out = load().failures(CONVERGE.splitlines())
    assert out[0] == ("line 13, PLAY [Tune and harden KVM hypervisor hosts] " + "*" * 36
                      + " / TASK [kvmops.hypervisor.hugepages : Allocate the huge pages per NUMA node now] ***")
    assert out[1] == 'fatal: [kvmlab]: FAILED! => {"changed": false, "msg": "node 1 short: 80 asked, 12 allocated"}'
    assert not any("\x1b" in line for line in out)


def test_an_ignored_failure_is_not_reported():
    out = load().failures(CONVERGE.splitlines())
    assert not any('"probe"' in line for line in out)
    assert any(line.startswith("ERROR    Ansible return code was 2") for line in out)


def test_failed_tests_of_the_verifier_and_the_limit():
    log = ["tests/test_70_nvme.py::test_scheduler_none_is_selected[ansible://kvmlab] FAILED [ 44%]",
           "tests/test_70_nvme.py::test_rule[ansible://kvmlab] PASSED [ 45%]"]
    log += ["FAILED tests/test_%d.py::test_x - assert 1 == 2" % number for number in range(5)]
    out = load().failures(log)
    assert out[0].startswith("tests/test_70_nvme.py::test_scheduler_none_is_selected")
    assert "FAILED tests/test_0.py::test_x - assert 1 == 2" in out
    assert out == [log[0], log[2], log[3], "(more in the log)"]  # three failures, then the pointer


def test_a_passing_log_says_nothing(tmp_path):
    log = tmp_path / "molecule.log"
    log.write_text("PLAY [x] ***\nTASK [y] ***\nok: [kvmlab]\n\nPLAY RECAP ***\nkvmlab : ok=1 failed=0\n")
    done = subprocess.run([sys.executable, SCRIPT, str(log)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
