#!/usr/bin/env bash
# Runs INSIDE the lab image's chroot (copied there by build-image.sh), one step per call:
#   guest-setup.sh base|kvm|zfs|configure
# Environment: SUITE, MIRROR, ROOT_UUID, SSH_PUBKEY, IMAGE_CMDLINE.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 LANG=C.UTF-8
APT=(apt-get -y -q -o Dpkg::Use-Pty=0 -o APT::Install-Recommends=false)

base() {
    cat >/etc/apt/sources.list <<SRC
deb $MIRROR $SUITE main contrib
deb $MIRROR $SUITE-updates main contrib
deb $MIRROR $SUITE-backports main contrib
SRC
    "${APT[@]}" update
    "${APT[@]}" install systemd-sysv udev kmod dbus iproute2 procps less \
        openssh-server python3 python3-apt sudo pciutils nvme-cli numactl hwloc-nox ethtool \
        linux-image-amd64 linux-headers-amd64 initramfs-tools grub-pc
}

kvm() {
    # apparmor as a default Debian install has it (the kernel recommends it): it loads
    # libvirt's daemon profile and TEMPLATE.qemu, which libvirt's AppArmor driver needs.
    # fio: polled io_uring reads for the nvme_queues test; prometheus-node-exporter serves
    # the audit's textfile (its Debian default reads /var/lib/prometheus/node-exporter);
    # tuned: installed but masked (configure), the tuned coexistence test unmasks it.
    "${APT[@]}" install libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients \
        python3-libvirt qemu-system-x86 irqbalance apparmor \
        fio prometheus-node-exporter tuned
}

zfs() {
    local kver target=()
    # zfs-dkms builds the module for the installed kernel (headers are there) by itself.
    # bookworm: its backports' OpenZFS (2.2 or newer, the version the roles' sources cite,
    # not bookworm's 2.1); trixie and later: the suite's own (contrib).
    if [ "$SUITE" = bookworm ]; then target=(-t bookworm-backports); fi
    "${APT[@]}" install "${target[@]}" zfs-dkms zfsutils-linux
    for kver in /lib/modules/*; do
        kver=${kver##*/}
        if ! find "/lib/modules/$kver" -name 'zfs.ko*' | grep -q .; then
            dkms autoinstall -k "$kver"
        fi
        find "/lib/modules/$kver" -name 'zfs.ko*' | grep -q . || {
            echo "zfs.ko was not built for $kver" >&2
            exit 1
        }
    done
    # After the backports zfsutils, so neither pulls bookworm's older one: libvirt's zfs
    # storage backend and sanoid, both used by zfs_storage when its policy asks.
    "${APT[@]}" install libvirt-daemon-driver-storage-zfs sanoid
}

configure() {
    echo kvmlab >/etc/hostname
    printf '127.0.0.1 localhost\n127.0.1.1 kvmlab\n::1 localhost ip6-localhost ip6-loopback\n' >/etc/hosts
    printf 'UUID=%s / ext4 errors=remount-ro 0 1\n' "$ROOT_UUID" >/etc/fstab
    : >/etc/machine-id
    # Management network only on the virtio NIC (QEMU user networking); the igb NIC stays
    # unconfigured for the SR-IOV roles.
    cat >/etc/systemd/network/10-lab-mgmt.network <<NET
[Match]
Driver=virtio_net

[Network]
DHCP=ipv4
NET
    systemctl enable systemd-networkd.service ssh.service
    # Slow or pointless units in a disposable TCG guest. Not systemd-udev-settle.service:
    # OpenZFS's zfs-load-module.service Requires= it, so masking it left the module
    # unloaded and the pool not imported at boot (trixie lab: zfs_storage then found the
    # pool's disk "holding PTTYPE=gpt" and refused to create the pool over it).
    systemctl mask systemd-networkd-wait-online.service \
        tuned.service apt-daily.timer apt-daily-upgrade.timer man-db.timer \
        e2scrub_all.timer e2scrub_reap.service fstrim.timer
    # Off on the fresh host: zfs_storage enables it when a snapshot policy is planned.
    systemctl disable sanoid.timer
    install -d -m 700 /root/.ssh
    echo "$SSH_PUBKEY" >/root/.ssh/authorized_keys
    chmod 600 /root/.ssh/authorized_keys
    passwd -l root
    sed -i -e 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/' /etc/default/grub
    install -d /etc/default/grub.d
    cat >/etc/default/grub.d/10-kvmops-lab.cfg <<GRUB
# The lab host's "firmware" choices (tools/lab/lab.conf KVMOPS_LAB_IMAGE_CMDLINE).
GRUB_CMDLINE_LINUX="\$GRUB_CMDLINE_LINUX $IMAGE_CMDLINE"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB
    apt-get clean
    rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*
}

"$1"
