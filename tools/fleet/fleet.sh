#!/usr/bin/env bash
# A fleet of simulated KVM hosts on this machine, reached with real SSH (make fleet).
#
#   fleet.sh up [N]     start N hosts kvmfleet1..N (default $KVMOPS_FLEET_HOSTS, else 50)
#   fleet.sh down       stop them; fails naming whatever is left behind
#   fleet.sh status     up or down, how many hosts answer SSH
#   fleet.sh inventory  print the path of the running fleet's inventory
#
# Each host: a network namespace kvmfleetN with a veth into the bridge $KVMOPS_FLEET_BRIDGE
# (addresses $KVMOPS_FLEET_NET.2 and up, only on this machine), its own root file system
# (an overlay on a cached base made from the lab's minbase chroot, tools/fleet/base.sh)
# with its own /proc, /dev and /run, and its own sshd, chrooted into that root. The hosts
# share this machine's kernel: the inventory runs the collection in image mode
# (kvmops_apply_runtime: false, files only), with each host's hardware facts from a
# different machine (tools/fleet/facts.py). docs/fleet.md tells the rest.
set -euo pipefail
FLEET_TOOLS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../lab/lib.sh
. "$FLEET_TOOLS/../lab/lib.sh"
log() { printf '[fleet %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

: "${KVMOPS_FLEET_HOSTS:=50}"
: "${KVMOPS_FLEET_DIR:=/var/tmp/kvmops-fleet}"   # not under build/: make clean must not meet its mounts
: "${KVMOPS_FLEET_NET:=10.251.0}"                # the fleet's /24: bridge .1, host N at .N+1
: "${KVMOPS_FLEET_BRIDGE:=kvmfleet0}"
: "${KVMOPS_FLEET_SSH_TIMEOUT:=30}"              # seconds for each host's sshd to answer
: "${KVMOPS_FLEET_FORKS:=$((2 * $(nproc)))}"
NS_PREFIX=kvmfleet
VETH_PREFIX=kvmfv
HOSTS_DIR=$KVMOPS_FLEET_DIR/hosts
STATE=$KVMOPS_FLEET_DIR/state
KEY=$KVMOPS_FLEET_DIR/id_ed25519
CP_DIR=$KVMOPS_FLEET_DIR/cp
INVENTORY=$KVMOPS_FLEET_DIR/inventory

host_ip() { echo "$KVMOPS_FLEET_NET.$(($1 + 1))"; }
host_root() { echo "$HOSTS_DIR/$NS_PREFIX$1/root"; }
running_count() { sed -n 's/^hosts=//p' "$STATE" 2>/dev/null || true; }

ssh_to() { # ssh_to N CMD...: as Ansible connects, without the control master
    local n=$1
    shift
    ssh -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -o LogLevel=ERROR -o IdentitiesOnly=yes -o ControlPath=none -i "$KEY" "root@$(host_ip "$n")" "$@"
}

# ------------------------------------------------------------------ checks
check_free() {
    local net=$KVMOPS_FLEET_NET
    [[ "$net" =~ ^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "KVMOPS_FLEET_NET must be the first three octets of a /24, got '$net'"
    if ip link show "$KVMOPS_FLEET_BRIDGE" >/dev/null 2>&1; then
        die "a link named $KVMOPS_FLEET_BRIDGE exists already (a fleet not stopped? fleet.sh down); set KVMOPS_FLEET_BRIDGE"
    fi
    if ip -o -4 addr show | awk '{print $4}' | grep -q "^${net//./\\.}\."; then
        die "addresses in $net.0/24 are in use on this machine: $(ip -o -4 addr show | awk -v n="$net." 'index($4, n) == 1 {print $2, $4}' | tr '\n' ' ')(set KVMOPS_FLEET_NET)"
    fi
    if ip -4 route show | awk '{print $1}' | grep -q "^${net//./\\.}\."; then
        die "a route to $net.0/24 exists on this machine: $(ip -4 route show | grep "^$net\." | head -n1) (set KVMOPS_FLEET_NET)"
    fi
    if ip netns list | grep -q "^${NS_PREFIX}[0-9]"; then
        die "network namespaces $NS_PREFIX* exist already: fleet.sh down first"
    fi
}

# ------------------------------------------------------------------ up
host_up() { # host_up N BASE
    local n=$1 base=$2 dir root ns veth
    dir=$HOSTS_DIR/$NS_PREFIX$n root=$HOSTS_DIR/$NS_PREFIX$n/root ns=$NS_PREFIX$n veth=$VETH_PREFIX$n
    mkdir -p "$dir/upper" "$dir/work" "$root"
    mount -t overlay overlay -o "lowerdir=$base,upperdir=$dir/upper,workdir=$dir/work" "$root"
    # /proc and /sys as an image build has them, read-only where a write would change
    # this machine's kernel (as tools/lab/lab.sh chroot-new); /dev and /run its own.
    mount -t proc proc "$root/proc"
    mount --bind "$root/proc/sys" "$root/proc/sys"
    mount -o remount,bind,ro "$root/proc/sys"
    mount -o bind,ro /sys "$root/sys"
    mount -t tmpfs -o mode=755,nosuid,size=1m tmpfs "$root/dev"
    cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "$root/dev/"
    mkdir -p "$root/dev/pts"
    mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$root/dev/pts"
    ln -s pts/ptmx "$root/dev/ptmx"
    mount -t tmpfs -o mode=755,nosuid,nodev,size=16m tmpfs "$root/run"
    mkdir -p "$root/run/sshd"
    echo "$ns" >"$root/etc/hostname"
    install -m 0600 "$KEY.pub" "$root/root/.ssh/authorized_keys"
    : >"$root/var/log/kvmops-count-python.log"
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$KVMOPS_FLEET_BRIDGE" up
    ip -n "$ns" addr add "$(host_ip "$n")/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip netns exec "$ns" chroot "$root" /usr/sbin/sshd
}

wait_for_ssh() { # every host answers with the fleet's key within the timeout, or die
    local n deadline
    for ((n = 1; n <= $1; n++)); do
        deadline=$(($(date +%s) + KVMOPS_FLEET_SSH_TIMEOUT))
        until ssh_to "$n" true 2>/dev/null; do
            [ "$(date +%s)" -lt "$deadline" ] ||
                die "$NS_PREFIX$n ($(host_ip "$n")): sshd did not answer in $KVMOPS_FLEET_SSH_TIMEOUT s (KVMOPS_FLEET_SSH_TIMEOUT); try: ip netns exec $NS_PREFIX$n chroot $(host_root "$n") /usr/sbin/sshd -d"
            sleep 0.2
        done
    done
}

write_inventory() { # write_inventory N
    local n=$1 i
    rm -rf "$INVENTORY" && mkdir -p "$INVENTORY/host_vars" "$CP_DIR"
    "$REPO_DIR/.venv/bin/python" "$FLEET_TOOLS/facts.py" "$n" "$INVENTORY/host_vars" "$NS_PREFIX" >&2
    {
        cat <<YAML
---
# The kvmops fleet (tools/fleet/fleet.sh up $n): what a fleet operator runs with. Written by
# fleet.sh; ansible.cfg next to this directory sets the forks.
all:
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $KEY
    ansible_ssh_pipelining: true
    # ControlPersist: one SSH connection per host for the whole run, at a path of its own
    ansible_ssh_args: -o ControlMaster=auto -o ControlPersist=300s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o LogLevel=ERROR
    ansible_control_path_dir: $CP_DIR
    ansible_control_path: "%(directory)s/%%h"
    # one line per Python process in the host's /var/log/kvmops-count-python.log
    ansible_python_interpreter: /usr/local/bin/kvmops-count-python
    # the hosts share this machine's kernel: files only
    kvmops_apply_runtime: false
    # a network namespace other than the first has no entry for, or cannot set, the
    # net.core and neigh sysctls the kernel does not keep per namespace: left out, warned
    sysctl_net_ignore_unknown: true
    # a policy whose plan follows each host's hardware (tools/fleet/facts.py)
    kvmops_plan_isolation: isolcpus
    kvmops_plan_hugepages_percent: 50
  children:
    kvm_hosts:
      hosts:
YAML
        for ((i = 1; i <= n; i++)); do
            printf '        %s%d:\n          ansible_host: %s\n' "$NS_PREFIX" "$i" "$(host_ip "$i")"
        done
    } >"$INVENTORY/hosts.yml"
    cat >"$KVMOPS_FLEET_DIR/ansible.cfg" <<CFG
# The kvmops fleet's Ansible settings (tools/fleet/fleet.sh): ANSIBLE_CONFIG=$KVMOPS_FLEET_DIR/ansible.cfg
[defaults]
inventory = $INVENTORY/hosts.yml
forks = $KVMOPS_FLEET_FORKS
host_key_checking = False
[ssh_connection]
pipelining = True
CFG
}

up() {
    local n=${1:-$KVMOPS_FLEET_HOSTS} i base running start
    need_root "fleet.sh up"
    command -v ip >/dev/null || die "ip (iproute2) is missing"
    if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ] || [ "$n" -gt 250 ]; then
        die "host count must be 1..250, got '$n'"
    fi
    running=$(running_count)
    if [ -n "$running" ]; then
        [ "$running" -eq "$n" ] || die "a fleet of $running hosts is up: fleet.sh down first"
        log "fleet of $n hosts already up: $INVENTORY/hosts.yml"
        return 0
    fi
    check_free
    start=$(date +%s)
    base=$("$FLEET_TOOLS/base.sh")
    mkdir -p "$KVMOPS_FLEET_DIR" && chmod 700 "$KVMOPS_FLEET_DIR"
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C kvmops-fleet -f "$KEY"
    # From here on a failure takes down whatever was started.
    trap 'rc=$?; [ "$rc" -eq 0 ] || { log "up failed: taking the fleet down"; down || true; }; exit "$rc"' EXIT
    printf 'hosts=%s\nbase=%s\n' "$n" "$base" >"$STATE"
    ip link add "$KVMOPS_FLEET_BRIDGE" type bridge
    ip addr add "$KVMOPS_FLEET_NET.1/24" dev "$KVMOPS_FLEET_BRIDGE"
    ip link set "$KVMOPS_FLEET_BRIDGE" up
    for ((i = 1; i <= n; i++)); do
        host_up "$i" "$base"
    done
    write_inventory "$n"
    wait_for_ssh "$n"
    trap - EXIT
    log "fleet up: $n hosts in $(($(date +%s) - start)) s; inventory $INVENTORY/hosts.yml, ANSIBLE_CONFIG=$KVMOPS_FLEET_DIR/ansible.cfg"
}

# ------------------------------------------------------------------ down
fleet_mounts() { awk -v d="$KVMOPS_FLEET_DIR" 'index($2, d "/") == 1 {print $2}' /proc/mounts; }
fleet_namespaces() { ip netns list | awk -v p="$NS_PREFIX" '$1 ~ "^" p "[0-9]+$" {print $1}'; }
fleet_links() { ip -o link show | awk -F': ' -v p="$VETH_PREFIX" -v b="$KVMOPS_FLEET_BRIDGE" '{sub(/@.*/, "", $2)} $2 == b || $2 ~ "^" p "[0-9]+$" {print $2}'; }
# processes with a root or a command line in the fleet's directory (sshd, its sessions,
# the controller's SSH control masters)
fleet_pids() {
    local p
    for p in /proc/[0-9]*; do
        if [[ "$(readlink "$p/root" 2>/dev/null)" == "$KVMOPS_FLEET_DIR"/* ]] ||
            tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$KVMOPS_FLEET_DIR/"; then
            echo "${p#/proc/}"
        fi
    done
}

leftovers() {
    local what
    what=$(
        fleet_namespaces | sed 's/^/namespace /'
        fleet_pids | grep -vx "$$" | while read -r p; do echo "process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
        fleet_mounts | sed 's/^/mount /'
        fleet_links | sed 's/^/link /'
    )
    printf '%s' "$what"
}

down() {
    local ns pid sock m rest tries
    need_root "fleet.sh down"
    for sock in "$CP_DIR"/*; do
        if [ -S "$sock" ]; then ssh -o ControlPath="$sock" -O exit fleet 2>/dev/null || true; fi
    done
    for ns in $(fleet_namespaces); do
        for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
    done
    for tries in 1 2 3 4 5 6 7 8 9 10; do
        [ -z "$(for ns in $(fleet_namespaces); do ip netns pids "$ns"; done)" ] && break
        sleep 0.3
    done
    for ns in $(fleet_namespaces); do
        for pid in $(ip netns pids "$ns"); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    : "$tries"
    fleet_mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
    for ns in $(fleet_namespaces); do ip netns delete "$ns"; done
    for m in $(fleet_links); do ip link delete "$m" 2>/dev/null || true; done
    rest=$(leftovers)
    [ -z "$rest" ] || die "fleet.sh down left behind:"$'\n'"$rest"
    rm -rf --one-file-system "$HOSTS_DIR" "$INVENTORY" "$CP_DIR" "$STATE" "$KVMOPS_FLEET_DIR/ansible.cfg"
    log "fleet down: no namespace, process, mount or link of it left"
}

# ------------------------------------------------------------------ status
status() {
    local n i rest answering=0
    n=$(running_count)
    if [ -z "$n" ]; then
        log "fleet down"
        rest=$(leftovers)
        [ -z "$rest" ] || die "but these are left over (fleet.sh down removes them):"$'\n'"$rest"
        return 1
    fi
    for ((i = 1; i <= n; i++)); do
        timeout 2 bash -c "exec 3<>/dev/tcp/$(host_ip "$i")/22" 2>/dev/null && answering=$((answering + 1))
    done
    log "fleet up: $n hosts, $answering answering on port 22; $(fleet_mounts | wc -l) mounts, $(fleet_namespaces | wc -l) namespaces"
    log "inventory: $INVENTORY/hosts.yml; ANSIBLE_CONFIG=$KVMOPS_FLEET_DIR/ansible.cfg"
    [ "$answering" -eq "$n" ]
}

case "${1:-}" in
up) up "${2:-}" ;;
down) down ;;
status) status ;;
inventory)
    [ -n "$(running_count)" ] || die "no fleet is up (fleet.sh up N)"
    echo "$INVENTORY/hosts.yml"
    ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 2
    ;;
esac
