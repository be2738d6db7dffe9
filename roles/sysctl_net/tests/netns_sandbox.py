# -*- coding: utf-8 -*-
# Copyright: kvmops.hypervisor contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throwaway target for the sysctl_net role: a network namespace with its own /etc/sysctl.d.

``ip netns exec`` gives the playbook a network namespace (net.* sysctls are per
namespace) and a private mount namespace, in which a temporary directory is bound over
/etc/sysctl.d and /etc/modules-load.d and empty ones over the other directories
``sysctl --system`` reads, so the role runs with its real default paths and
``sysctl --system`` sees only what the role wrote. The machine's own /etc and its
initial-namespace sysctls are left alone; :meth:`Sandbox.host_snapshot` lets callers
prove it. Global (not per-namespace) keys such as vm.max_map_count must be removed from
the profile by the caller: :data:`GLOBAL_KEYS`.

Needs root, ``ip`` and ``unshare``. Used by test_netns.py and tests/bench/bench_sysctl_net.py.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
VENV_BIN = os.path.join(REPO, ".venv", "bin")
COLLECTIONS = os.path.join(REPO, "build", "collections")

# Keys of the baseline that are not per network namespace: writing them in the sandbox
# would change the machine, so the sandbox runs always remove them.
GLOBAL_KEYS = ["vm.max_map_count"]

# Directories `sysctl --system` reads besides /etc/sysctl.d; hidden behind empty ones.
HIDDEN_DIRS = ["/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d"]

RECAP = re.compile(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)")


def available():
    """Why the sandbox cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (network and mount namespaces)"
    for tool in ("ip", "unshare", "sysctl"):
        if shutil.which(tool) is None:
            return "%s not found" % tool
    if not os.path.exists(os.path.join(VENV_BIN, "ansible-playbook")):
        return "no .venv (make venv)"
    return None


def proc_path(key):
    return "/proc/sys/" + key.replace(".", "/")


class Result(object):
    def __init__(self, proc):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr
        match = RECAP.search(proc.stdout)
        self.recap = dict(zip(("ok", "changed", "unreachable", "failed", "skipped"),
                              (int(n) for n in match.groups()))) if match else None

    def __repr__(self):
        return "Result(rc=%s, recap=%s)\n%s" % (self.rc, self.recap, self.output[-4000:])


class Sandbox(object):
    """One network namespace + a private /etc/sysctl.d; use as a context manager."""

    def __init__(self, name="kvmops-sysctl-test"):
        self.name = name
        self.tmp = None

    def __enter__(self):
        self.tmp = tempfile.mkdtemp(prefix="kvmops-sysctl-")
        for sub in ("sysctl.d", "modules-load.d", "empty"):
            os.mkdir(os.path.join(self.tmp, sub))
        open(os.path.join(self.tmp, "sysctl.conf"), "w").close()
        subprocess.run(["ip", "netns", "del", self.name], stderr=subprocess.DEVNULL, check=False)
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.sh("ip link set lo up")
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "del", self.name], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)

    @property
    def etc_sysctl_d(self):
        return os.path.join(self.tmp, "sysctl.d")

    @property
    def etc_modules_load_d(self):
        return os.path.join(self.tmp, "modules-load.d")

    def _mounts(self):
        cmds = [
            "mount --bind %s /etc/sysctl.d" % self.etc_sysctl_d,
            "mount --bind %s /etc/modules-load.d" % self.etc_modules_load_d,
            "mount --bind %s/sysctl.conf /etc/sysctl.conf" % self.tmp,
        ]
        for directory in HIDDEN_DIRS:
            cmds.append("if [ -d %s ]; then mount --bind %s/empty %s; fi" % (directory, self.tmp, directory))
        return " && ".join(cmds)

    def sh(self, command, check=True):
        """Run a shell command in the sandbox (network namespace + private mounts)."""
        script = "%s && %s" % (self._mounts(), command)
        proc = subprocess.run(
            ["ip", "netns", "exec", self.name, "unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("sandbox command failed (%s): %s\n%s%s" % (proc.returncode, command, proc.stdout, proc.stderr))
        return proc

    def read(self, keys):
        """Live values of ``keys`` inside the namespace (None when absent)."""
        script = "; ".join("printf '%%s\\n' \"$(cat %s 2>/dev/null || echo '<absent>')\"" % proc_path(key) for key in keys)
        lines = self.sh(script).stdout.splitlines()
        return {key: (None if line == "<absent>" else " ".join(line.split())) for key, line in zip(keys, lines)}

    def playbook(self, playbook, extravars=None, check=False, env=None):
        """Run ``playbook`` with the local connection inside the sandbox."""
        varsfile = os.path.join(self.tmp, "extravars.json")
        # the run lock of the real host's /var/lib is not the sandbox's
        extravars = dict({"kvmops_lock_path": os.path.join(self.tmp, "run.lock")}, **(extravars or {}))
        with open(varsfile, "w") as handle:
            json.dump(extravars, handle)
        environment = {
            "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_PIPELINING": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        }
        environment.update(env or {})
        exports = " ".join("%s=%s" % item for item in sorted(environment.items()))
        command = "env %s %s/ansible-playbook -i localhost, -c local -e ansible_python_interpreter=%s/python -e @%s %s%s" % (
            exports, VENV_BIN, VENV_BIN, varsfile, playbook, " --check --diff" if check else "")
        return Result(self.sh(command, check=False))


class BridgeNetfilter(object):
    """Make br_netfilter active for the duration (and unload it again if we loaded it).

    The role loads br_netfilter, which is global: without this, a machine where it is a
    module that is not loaded would end a test run with it loaded (and
    bridge-nf-call-iptables=1 in the initial namespace). Where it is built in or already
    loaded, nothing happens.
    """

    def __init__(self):
        self.loaded = False

    def __enter__(self):
        if not os.path.isdir("/proc/sys/net/bridge"):
            subprocess.run(["modprobe", "br_netfilter"], check=True)
            self.loaded = True
        return self

    def __exit__(self, *exc):
        if self.loaded:
            subprocess.run(["modprobe", "-r", "br_netfilter"], check=False)


def host_snapshot(keys):
    """The machine's own (initial namespace) values of ``keys`` and its sysctl.d listing."""
    values = {}
    for key in keys:
        try:
            with open(proc_path(key)) as handle:
                values[key] = " ".join(handle.read().split())
        except (IOError, OSError):
            values[key] = None
    listing = {}
    for directory in ["/etc/sysctl.d", "/etc/modules-load.d"] + HIDDEN_DIRS:
        listing[directory] = sorted(os.listdir(directory)) if os.path.isdir(directory) else None
    return {"values": values, "dirs": listing}
