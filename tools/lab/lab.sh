#!/usr/bin/env bash
# The kvmops lab host: a disposable Debian KVM host under QEMU (TCG) for testing the roles.
#
#   lab.sh deps       install what the controller lacks (root; Debian bookworm)
#   lab.sh build      build the cached base image (about 9 minutes, once per script change)
#   lab.sh up         boot a fresh lab host (new overlay on the cached image), write inventory
#   lab.sh ssh [CMD]  SSH into the running lab host
#   lab.sh run-site   run playbooks/site.yml on it, then print its facts and the SSH command
#   lab.sh shape      what the running lab host looks like (CPUs, NUMA, IOMMU, NVMe, SR-IOV, ZFS)
#   lab.sh restart    power-cycle it on its current disks (after a hung in-guest reboot)
#   lab.sh qemu-args  print QEMU's arguments for the configured shape, one a line
#   lab.sh destroy    stop QEMU (by its pid) and remove the overlay
#   lab.sh status     is it running, where is the inventory
#   lab.sh chroot-base        build the cached minbase chroot tarball (molecule/image)
#   lab.sh chroot-new DIR     unpack a fresh chroot into DIR
#   lab.sh chroot-remove DIR  remove a chroot made by chroot-new
#
# The lab's shape (sockets, cores, threads, NUMA nodes, memory, NVMe, SR-IOV NIC) and
# everything else are set in tools/lab/lab.conf or the environment (KVMOPS_LAB_*).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# ---------------------------------------------------------------- deps
host_codename() { sed -n "s/^VERSION_CODENAME=//p" /etc/os-release | tr -d "\"" | grep . || echo bookworm; }

qemu_has_igb() {
    command -v qemu-system-x86_64 >/dev/null &&
        qemu-system-x86_64 -device help 2>/dev/null | grep -q '"igb"'
}

deps() {
    local missing=() cmd codename updated=0
    codename=$(host_codename)
    # command:package pairs this script and build-image.sh call.
    for cmd in debootstrap:debootstrap sfdisk:fdisk partx:util-linux losetup:mount \
        mke2fs:e2fsprogs ssh:openssh-client ssh-keygen:openssh-client zstd:zstd \
        setsid:util-linux python3:python3 sha256sum:coreutils; do
        command -v "${cmd%%:*}" >/dev/null || missing+=("${cmd#*:}")
    done
    if [ ${#missing[@]} -eq 0 ] && qemu_has_igb && command -v qemu-img >/dev/null; then
        log "controller packages present ($(qemu-system-x86_64 --version | head -n1))"
        return 0
    fi
    need_root deps
    export DEBIAN_FRONTEND=noninteractive
    if ! qemu_has_igb || ! command -v qemu-img >/dev/null; then
        # QEMU >= 8 has the igb NIC (SR-IOV); bookworm's 7.2 has not: take backports' QEMU.
        if ! grep -rqsE "^[^#]*$codename-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            log "adding the $codename-backports apt source (main contrib)"
            cat >/etc/apt/sources.list.d/kvmops-lab-backports.sources <<SRC
Types: deb
URIs: $(debian_mirror)
Suites: $codename-backports
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        fi
        apt-get update -q && updated=1
        apt-get install -y -q -t "$codename-backports" qemu-system-x86 qemu-utils
        qemu_has_igb || die "the installed QEMU has no igb device (need QEMU >= 8)"
    fi
    if [ ${#missing[@]} -gt 0 ]; then
        [ "$updated" -eq 1 ] || apt-get update -q
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    log "controller packages present ($(qemu-system-x86_64 --version | head -n1))"
}

# ---------------------------------------------------------------- build
# cache_lock: one build of the cache at a time (make lab and a molecule run may race);
# held until the calling stage's subshell ends.
cache_lock() {
    mkdir -p "$KVMOPS_LAB_CACHE"
    exec 9>"$KVMOPS_LAB_CACHE/.lock"
    if ! flock -n 9; then
        log "waiting for another build of $KVMOPS_LAB_CACHE"
        flock 9
    fi
}

build() {
    if [ -f "$(image_dir)/base.qcow2" ]; then
        log "image cached: $(image_dir)"
        return 0
    fi
    deps
    cache_lock
    "$LAB_DIR/build-image.sh"
}

# ---------------------------------------------------------------- qemu
is_on() { case "${1,,}" in on | yes | true | 1) return 0 ;; *) return 1 ;; esac; }

check_int() { # check_int NAME VALUE MIN
    if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "$3" ]; then
        die "$1 must be an integer >= $3, got '$2'"
    fi
}

# QEMU's command line for the configured shape, one argument per line.
qemu_args() {
    local port=$1 dir=$2 image=$3
    local s=$KVMOPS_LAB_SOCKETS c=$KVMOPS_LAB_CORES t=$KVMOPS_LAB_THREADS
    local n=$KVMOPS_LAB_NUMA_NODES mem=$KVMOPS_LAB_NODE_MEM_MB g node
    check_int KVMOPS_LAB_SOCKETS "$s" 1
    check_int KVMOPS_LAB_CORES "$c" 1
    check_int KVMOPS_LAB_THREADS "$t" 1
    check_int KVMOPS_LAB_NUMA_NODES "$n" 1
    check_int KVMOPS_LAB_NODE_MEM_MB "$mem" 256
    [ "$n" -le $((s * c)) ] ||
        die "KVMOPS_LAB_NUMA_NODES ($n) must not exceed sockets x cores ($((s * c))): nodes get whole cores"
    printf '%s\n' -name "kvmops-lab-$KVMOPS_LAB_NAME" -nodefaults -display none \
        -machine q35 -accel tcg,thread=multi -cpu "$KVMOPS_LAB_CPU_MODEL" \
        -smp "$((s * c * t)),sockets=$s,cores=$c,threads=$t" -m "$((n * mem))M"
    for ((node = 0; node < n; node++)); do
        printf '%s\n' -object "memory-backend-ram,id=mem$node,size=${mem}M" \
            -numa "node,nodeid=$node,memdev=mem$node"
    done
    # Whole cores (all their threads) in order: node = core index * nodes / cores.
    for ((g = 0; g < s * c; g++)); do
        printf '%s\n' -numa "cpu,node-id=$((g * n / (s * c))),socket-id=$((g / c)),core-id=$((g % c))"
    done
    # The IOMMU comes before every other device.
    printf '%s\n' -device intel-iommu,intremap=on \
        -drive "file=$dir/root.qcow2,if=none,id=root,format=qcow2,discard=unmap" \
        -device virtio-blk-pci,drive=root,bootindex=1 \
        -drive "file=$dir/scratch.qcow2,if=none,id=scratch,format=qcow2,discard=unmap" \
        -device virtio-blk-pci,drive=scratch,serial=kvmops-scratch \
        -netdev "user,id=mgmt,restrict=on,hostfwd=tcp:127.0.0.1:$port-:22" \
        -device virtio-net-pci,netdev=mgmt
    if is_on "$KVMOPS_LAB_SRIOV_NIC"; then
        # igb: SR-IOV PF with 7 VFs; its own isolated user netdev (restrict=on, no forwards).
        printf '%s\n' -device pcie-root-port,id=rp1,chassis=1,slot=1 \
            -netdev user,id=sriov,restrict=on -device igb,netdev=sriov,bus=rp1
    fi
    if is_on "$KVMOPS_LAB_NVME"; then
        printf '%s\n' -device pcie-root-port,id=rp2,chassis=2,slot=2 \
            -device nvme-subsys,id=nvmesubsys0,nqn=nqn.2024-01.io.kvmops:lab \
            -device nvme,id=nvme0,serial=kvmopslab0,subsys=nvmesubsys0,bus=rp2 \
            -drive "file=$dir/nvme.qcow2,if=none,id=nvm0,format=qcow2" \
            -device nvme-ns,drive=nvm0,bus=nvme0,nsid=1
    fi
    printf '%s\n' -serial "file:$dir/console.log" -pidfile "$dir/qemu.pid"
    : "$image"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Exit 0 when the port answers with an SSH banner (the forward accepts before sshd runs).
ssh_banner() {
    python3 - "$1" <<'PY'
import socket, sys
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as s:
        s.settimeout(5)
        sys.exit(0 if s.recv(64).startswith(b"SSH-") else 1)
except OSError:
    sys.exit(1)
PY
}

qemu_pid() { # the pid of this instance's QEMU if it runs, else nothing
    local dir pid
    dir=$(run_dir)
    [ -s "$dir/qemu.pid" ] || return 0
    pid=$(tr -dc 0-9 <"$dir/qemu.pid")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 0
    # Only our QEMU: a stale pidfile may name a reused pid.
    if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-name kvmops-lab-$KVMOPS_LAB_NAME "; then
        echo "$pid"
    fi
}

kill_qemu() {
    local pid n
    pid=$(qemu_pid)
    if [ -n "$pid" ]; then
        log "stopping QEMU (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for ((n = 0; n < 50; n++)); do
            [ -d "/proc/$pid" ] || break
            sleep 0.2
        done
        if [ -d "/proc/$pid" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$(run_dir)/qemu.pid"
}

show_tail() { # show_tail FILE TITLE
    if [ -s "$1" ]; then
        log "$2 (last lines of $1):"
        tail -n 25 "$1" | sed 's/^/    | /' >&2
    fi
}

write_access_files() { # inventory for Ansible, ssh_config, instance.json for Molecule
    local dir=$1 port=$2 key=$3
    cat >"$dir/inventory.yml" <<INV
# Written by tools/lab/lab.sh up; the lab host is in group kvm_hosts.
all:
  children:
    kvm_hosts:
      hosts:
        kvmlab:
          ansible_host: 127.0.0.1
          ansible_port: $port
          ansible_user: root
          ansible_ssh_private_key_file: $key
          ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes
          ansible_python_interpreter: /usr/bin/python3
          # modules run through SSH's stdin, not a copied file: fewer round trips per task,
          # which is most of a task's time on the TCG guest
          ansible_pipelining: true
INV
    cat >"$dir/ssh_config" <<CFG
Host kvmlab
    HostName 127.0.0.1
    Port $port
    User root
    IdentityFile $key
    IdentitiesOnly yes
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    ConnectTimeout 10
    ServerAliveInterval 15
CFG
    printf '{"instance": "kvmlab", "address": "127.0.0.1", "port": %s, "user": "root", "identity_file": "%s"}\n' \
        "$port" "$key" >"$dir/instance.json"
    # The shape this host was booted with, for tests that check it.
    printf '{"name": "%s", "sockets": %s, "cores": %s, "threads": %s, "numa_nodes": %s, "node_mem_mb": %s, "nvme": %s, "sriov_nic": %s}\n' \
        "$KVMOPS_LAB_NAME" "$KVMOPS_LAB_SOCKETS" "$KVMOPS_LAB_CORES" "$KVMOPS_LAB_THREADS" "$KVMOPS_LAB_NUMA_NODES" \
        "$KVMOPS_LAB_NODE_MEM_MB" "$(is_on "$KVMOPS_LAB_NVME" && echo true || echo false)" \
        "$(is_on "$KVMOPS_LAB_SRIOV_NIC" && echo true || echo false)" >"$dir/shape.json"
}

lab_ssh() { ssh -F "$(run_dir)/ssh_config" kvmlab "$@"; }

# One boot, QEMU under setsid with a pidfile, waiting for the SSH banner.
# boot_once fresh: new overlay and disks, new port; boot_once same: power-cycle the
# existing disks on the same port (lab.sh restart).
boot_once() {
    local mode=$1 dir image port pid deadline start
    dir=$(run_dir)
    image=$(image_dir)
    mkdir -p "$dir"
    if [ "$mode" = fresh ]; then
        rm -f "$dir"/*.qcow2 "$dir/inventory.yml" "$dir/instance.json"
        qemu-img create -q -f qcow2 -b "$image/base.qcow2" -F qcow2 "$dir/root.qcow2"
        qemu-img create -q -f qcow2 "$dir/scratch.qcow2" "${KVMOPS_LAB_SCRATCH_GB}G"
        if is_on "$KVMOPS_LAB_NVME"; then qemu-img create -q -f qcow2 "$dir/nvme.qcow2" 4G; fi
        port=$KVMOPS_LAB_SSH_PORT
        [ "$port" != 0 ] || port=$(free_port)
        echo "$port" >"$dir/port"
    else
        if [ ! -f "$dir/root.qcow2" ] || [ ! -s "$dir/qemu.args" ]; then
            die "no lab host '$KVMOPS_LAB_NAME' to restart"
        fi
        port=$(cat "$dir/port")
        if [ -s "$dir/console.log" ]; then mv "$dir/console.log" "$dir/console.log.$(date +%s)"; fi
    fi
    rm -f "$dir/console.log" "$dir/qemu.log"
    local args=()
    # A restart boots the same machine, whatever the environment says now.
    [ "$mode" = same ] || qemu_args "$port" "$dir" "$image" >"$dir/qemu.args"
    mapfile -t args <"$dir/qemu.args"
    [ ${#args[@]} -gt 0 ] || return 1
    printf '%q ' qemu-system-x86_64 "${args[@]}" >"$dir/qemu.cmdline"
    echo >>"$dir/qemu.cmdline"
    start=$(date +%s)
    setsid qemu-system-x86_64 "${args[@]}" </dev/null >"$dir/qemu.log" 2>&1 &
    for ((n = 0; n < 50; n++)); do
        pid=$(qemu_pid)
        [ -z "$pid" ] || break
        sleep 0.2
    done
    if [ -z "$pid" ]; then
        show_tail "$dir/qemu.log" "QEMU did not start"
        return 1
    fi
    log "QEMU pid $pid, SSH forwarded to 127.0.0.1:$port, console: $dir/console.log"
    deadline=$((start + KVMOPS_LAB_BOOT_TIMEOUT))
    until ssh_banner "$port"; do
        if [ -z "$(qemu_pid)" ]; then
            show_tail "$dir/qemu.log" "QEMU exited during boot"
            show_tail "$dir/console.log" "guest console"
            return 1
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            log "no SSH banner after $KVMOPS_LAB_BOOT_TIMEOUT s"
            show_tail "$dir/console.log" "guest console"
            kill_qemu
            return 1
        fi
        sleep 3
    done
    log "SSH banner after $(($(date +%s) - start)) s"
    [ "$mode" = same ] || write_access_files "$dir" "$port" "$image/id_ed25519"
    for ((n = 0; n < 10; n++)); do
        if lab_ssh true 2>/dev/null; then
            log "SSH login works: $(lab_ssh 'uname -r; nproc' | paste -sd' ') (kernel, CPUs)"
            return 0
        fi
        sleep 3
    done
    log "the banner came but SSH login fails"
    kill_qemu
    return 1
}

up() {
    local try
    qemu_args 0 /nonexistent /nonexistent >/dev/null # a bad shape setting fails here, first
    # An interrupted boot leaves no QEMU behind.
    trap 'log "interrupted"; kill_qemu; remove_instance; exit 130' INT TERM
    stage "up: controller packages" deps
    stage "up: base image" build
    kill_qemu
    for ((try = 1; try <= KVMOPS_LAB_BOOT_TRIES; try++)); do
        if stage "up: boot $try/$KVMOPS_LAB_BOOT_TRIES through GRUB to SSH" boot_once fresh; then
            log "lab host up ($(elapsed) s in all); inventory: $(run_dir)/inventory.yml"
            log "ssh: $(ssh_command)"
            return 0
        fi
        kill_qemu
    done
    remove_instance
    die "the lab host did not boot in $KVMOPS_LAB_BOOT_TRIES tries"
}

# Power-cycle the running (or hung, or dead) lab host on its disks as they are: what a
# BMC reset does to a real host. Tests use it when an in-guest reboot hung at random.
restart() {
    local try
    trap 'log "interrupted"; kill_qemu; exit 130' INT TERM
    kill_qemu
    for ((try = 1; try <= KVMOPS_LAB_BOOT_TRIES; try++)); do
        if stage "restart: power-cycle $try/$KVMOPS_LAB_BOOT_TRIES to SSH" boot_once same; then
            return 0
        fi
        kill_qemu
    done
    die "the lab host did not come back in $KVMOPS_LAB_BOOT_TRIES tries"
}

ssh_command() { echo "ssh -F $(run_dir)/ssh_config kvmlab   (or: tools/lab/lab.sh ssh)"; }

remove_instance() {
    local dir
    dir=$(run_dir)
    rm -f "$dir"/*.qcow2 "$dir/qemu.pid" "$dir/port" "$dir/qemu.args" "$dir/inventory.yml" "$dir/ssh_config" "$dir/instance.json" "$dir/shape.json"
}

destroy() {
    kill_qemu
    remove_instance
    log "lab host '$KVMOPS_LAB_NAME' destroyed (logs kept in $(run_dir))"
}

require_running() {
    if [ -z "$(qemu_pid)" ] || [ ! -f "$(run_dir)/inventory.yml" ]; then
        die "the lab host '$KVMOPS_LAB_NAME' is not running: tools/lab/lab.sh up"
    fi
}

# What the lab host looks like from inside: the shape the roles will see.
shape_report() {
    lab_ssh 'bash -s' <<'SH'
echo "kernel:    $(uname -r)"
echo "cmdline:   $(cat /proc/cmdline)"
lscpu | grep -E '^(CPU\(s\)|Socket|Core|Thread|NUMA node)' | sed 's/^/cpu:       /'
numactl --hardware | grep -E 'size|cpus' | sed 's/^/numa:      /'
echo "iommu:     $(ls /sys/kernel/iommu_groups | wc -l) IOMMU groups"
for f in /sys/class/net/*/device/sriov_totalvfs; do
    [ -e "$f" ] || continue
    n=${f#/sys/class/net/}; n=${n%%/*}
    echo "sriov:     $n ($(basename "$(readlink -f "/sys/class/net/$n/device/driver")")) totalvfs=$(cat "$f")"
done
for c in /sys/class/nvme/nvme*; do
    [ -e "$c" ] && echo "nvme:      ${c##*/} $(cat "$c/model" | xargs) numa_node=$(cat "$c/device/numa_node")"
done
echo "zfs:       module $(modinfo -F version zfs 2>/dev/null || echo absent)"
echo "libvirt:   $(virsh -c qemu:///system capabilities 2>/dev/null | grep -c '<cell id') NUMA cells in virsh capabilities"
SH
}

run_site() {
    local dir inv
    use_venv
    require_running
    dir=$(run_dir)
    inv=$dir/inventory.yml
    export ANSIBLE_HOST_KEY_CHECKING=False
    cd "$REPO_DIR"
    # The facts and the SSH command are shown even when the playbook fails.
    local rc=0
    stage "run-site: ansible-playbook playbooks/site.yml" \
        ansible-playbook -i "$inv" playbooks/site.yml || rc=$?
    if [ -f playbooks/audit.yml ]; then
        stage "run-site: audit report" ansible-playbook -i "$inv" playbooks/audit.yml || rc=$?
    elif [ -f plugins/modules/kvm_host_facts.py ]; then
        stage "run-site: kvm_host_facts" \
            ansible -i "$inv" kvm_hosts -m kvmops.hypervisor.kvm_host_facts || rc=$?
    fi
    stage "run-site: lab host shape" shape_report || rc=$?
    log "the lab host stays up; stop it with: make lab-destroy"
    log "ssh: $(ssh_command)"
    return "$rc"
}

status() {
    local pid
    pid=$(qemu_pid)
    if [ -n "$pid" ]; then
        log "running: pid $pid, port $(cat "$(run_dir)/port"), inventory $(run_dir)/inventory.yml"
        log "ssh: $(ssh_command)"
    else
        log "not running ('$KVMOPS_LAB_NAME')"
        return 1
    fi
}

# ---------------------------------------------------------------- chroot (molecule/image)
chroot_base() {
    if [ -f "$(chroot_tarball)" ]; then
        log "chroot cached: $(chroot_tarball)"
        return 0
    fi
    deps
    cache_lock
    [ -f "$(chroot_tarball)" ] || "$LAB_DIR/chroot.sh"
}

# A fresh chroot on a filesystem of its own (a partitioned file DIR.img on a loop device),
# as an image build has it: grub-probe finds its root device (a /dev of its own holds
# only that loop device, its by-uuid link and the usual character devices), so
# update-grub works inside; the controller's disks are not visible.
chroot_new() {
    local dir=${1:?chroot-new DIR} img uuid loop part n
    chroot_base
    [ ! -e "$dir" ] || chroot_remove "$dir"
    img=$dir.img
    uuid=$(cat /proc/sys/kernel/random/uuid)
    rm -f "$img"
    truncate -s 4G "$img"
    # Partitioned like a disk: grub-probe cannot place a filesystem on a whole loop device.
    printf 'label: dos\nstart=2048, type=83\n' | sfdisk -q "$img"
    loop=$(losetup -f --show "$img")
    partx -a "$loop"
    part=${loop}p1
    for ((n = 0; n < 20; n++)); do
        [ -b "$part" ] && break
        sleep 0.25
    done
    [ -b "$part" ] || die "no partition device $part"
    mke2fs -q -t ext4 -U "$uuid" -L kvmimage-root "$part"
    mkdir -p "$dir"
    mount "$part" "$dir"
    tar -C "$dir" --zstd -xpf "$(chroot_tarball)"
    touch "$dir/.kvmops-lab-chroot"
    printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$uuid" >"$dir/etc/fstab"
    mount -t tmpfs -o mode=755,nosuid tmpfs "$dir/dev"
    cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty "$loop" "$part" "$dir/dev/"
    mkdir -p "$dir/dev/pts" "$dir/dev/shm" "$dir/dev/disk/by-uuid"
    ln -s "../../${part##*/}" "$dir/dev/disk/by-uuid/$uuid"
    # /proc and /sys as an image build has them (fact gathering reads them), read-only
    # where a write would change the controller's kernel: a role that writes runtime
    # state in image mode fails here instead of tuning this machine.
    mount -t proc proc "$dir/proc"
    mount --bind "$dir/proc/sys" "$dir/proc/sys"
    mount -o remount,bind,ro "$dir/proc/sys"
    mount -o bind,ro /sys "$dir/sys"
    log "fresh chroot in $dir (root $part, UUID=$uuid; proc, sys read-only)"
}

chroot_remove() {
    local dir=${1:?chroot-remove DIR} m loop
    if [ -e "$dir" ]; then
        [ -f "$dir/.kvmops-lab-chroot" ] || die "$dir was not made by lab.sh chroot-new: not removing it"
        dir=$(cd "$dir" && pwd)
        # Deepest first, the chroot's own filesystem last (its loop device goes with it).
        awk -v d="$dir" '$2 == d || index($2, d "/") == 1 {print $2}' /proc/mounts | sort -r |
            while read -r m; do umount "$m" || umount -l "$m"; done
        rm -rf --one-file-system "$dir"
    fi
    if [ -e "$dir.img" ]; then
        for loop in $(losetup -j "$dir.img" -O NAME -n); do
            partx -d "$loop" 2>/dev/null || true
            losetup -d "$loop"
        done
        rm -f "$dir.img"
    fi
}

case "${1:-}" in
deps) stage "deps: controller packages" deps ;;
build) stage "build: base image" build ;;
up) up ;;
ssh)
    shift
    require_running
    lab_ssh "$@"
    ;;
run-site) run_site ;;
shape)
    require_running
    shape_report
    ;;
restart) restart ;;
qemu-args) qemu_args 2222 "$(run_dir)" "$(image_dir)" ;;
destroy) stage "destroy: lab host" destroy ;;
status) status ;;
chroot-base) stage "chroot: cached minbase chroot" chroot_base ;;
chroot-new) stage "chroot: fresh copy" chroot_new "${2:-}" ;;
chroot-remove) stage "chroot: remove" chroot_remove "${2:-}" ;;
*)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 2
    ;;
esac
