"""tools/fleet/fleet.sh refuses to start where it would collide, before it creates
anything: a link with the bridge's name, an address or a route in the fleet's /24, a
host count out of range. Each case runs in a network namespace of its own (unshare
--net), which holds the colliding link or address and vanishes with it; root only."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLEET = os.path.join(ROOT, "tools", "fleet", "fleet.sh")

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"),
                                reason="needs root, unshare and ip (a network namespace per case)")


def namespaces():
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def up_in_private_net(tmp_path, setup, count="2", **env):
    fleet_dir = tmp_path / "fleet"
    environ = dict(os.environ, KVMOPS_FLEET_DIR=str(fleet_dir), KVMOPS_FLEET_NET="10.251.77",
                   KVMOPS_FLEET_BRIDGE="kvmfltest0", **env)
    before = namespaces()
    script = "set -e; ip link set lo up; %s; exec %s up %s" % (setup, FLEET, count)
    result = subprocess.run(["unshare", "--net", "bash", "-c", script], env=environ,
                            capture_output=True, text=True, timeout=60, check=False)
    assert not fleet_dir.exists()  # refused before anything was made
    assert namespaces() == before
    return result


def test_refuses_when_the_bridge_name_is_taken(tmp_path):
    result = up_in_private_net(tmp_path, "ip link add kvmfltest0 type bridge")
    assert result.returncode == 1
    assert "a link named kvmfltest0 exists already" in result.stderr


def test_refuses_when_an_address_of_its_network_is_in_use(tmp_path):
    result = up_in_private_net(tmp_path, "ip addr add 10.251.77.9/32 dev lo")
    assert result.returncode == 1
    assert "addresses in 10.251.77.0/24 are in use on this machine: lo 10.251.77.9/32" in result.stderr


def test_refuses_when_a_route_to_its_network_exists(tmp_path):
    setup = "ip link add d0 type bridge; ip link set d0 up; ip route add 10.251.77.0/24 dev d0"
    result = up_in_private_net(tmp_path, setup)
    assert result.returncode == 1
    assert "a route to 10.251.77.0/24 exists" in result.stderr


@pytest.mark.parametrize("count", ["0", "251", "x"])
def test_refuses_a_host_count_out_of_range(tmp_path, count):
    result = up_in_private_net(tmp_path, "true", count=count)
    assert result.returncode == 1
    assert "host count must be 1..250, got '%s'" % count in result.stderr


def test_usage_without_a_command():
    result = subprocess.run([FLEET], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "fleet.sh up [N]" in result.stdout and "fleet.sh down" in result.stdout
