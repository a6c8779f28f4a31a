#!/bin/sh
# Helpers shared by /init, the hot-plug watcher and the DHCP script. POSIX sh (busybox ash).
# Sourced, not run. Everything here prefers shell builtins over forks: under TCG every fork
# of busybox costs milliseconds.

PATH=/sbin:/bin:/usr/sbin:/usr/bin
export PATH
STATE=/run/labcloud

# One console line in the format the host matches (labcloud.backends.tinyimage *_PATTERN).
say() {
	echo "labcloud-tiny: $*"
}

# Block devices a user cares about: virtio, SCSI/SATA, CD-ROM, IDE, NVMe, Xen.
is_disk() {
	case $1 in
	vd* | sd* | sr* | hd* | nvme* | xvd*) return 0 ;;
	esac
	return 1
}

# Size of /sys/block/$1 in bytes (sysfs counts 512-byte sectors whatever the device).
disk_size() {
	_s=0
	read -r _s <"/sys/block/$1/size" 2>/dev/null
	echo $((_s * 512))
}

nic_mac() {
	_m=none
	read -r _m <"/sys/class/net/$1/address" 2>/dev/null
	echo "$_m"
}

# First IPv4 address/prefix of $1, or "none".
nic_ip() {
	_ip=$(ip -o -4 addr show dev "$1" 2>/dev/null)
	set -f
	# shellcheck disable=SC2086 # split "2: eth0    inet 10.0.2.15/24 brd ..." on purpose
	set -- $_ip
	set +f
	while [ $# -gt 0 ]; do
		if [ "$1" = inet ]; then
			echo "$2"
			return
		fi
		shift
	done
	echo none
}

nic_line() {
	say "nic $1 mac $(nic_mac "$1") ip $(nic_ip "$1")"
}

# Start DHCP on $1 and return once it has a lease or has given up on the first round
# (about 3 s); udhcpc then stays in the background, renewing or retrying every few
# seconds, and the DHCP script reports a late lease on the console.
# The caller prints the nic line; the "starting" flag keeps the DHCP script quiet meanwhile.
dhcp_start() {
	mkdir -p "$STATE"
	: >"$STATE/starting.$1"
	ip link set dev "$1" up 2>/dev/null
	_host=
	read -r _host </proc/sys/kernel/hostname
	udhcpc -i "$1" -s /lib/labcloud/udhcpc.sh -p "$STATE/udhcpc.$1.pid" \
		-b -t 3 -T 1 -A 5 -O mtu -O staticroutes -x "hostname:$_host" \
		>>"$STATE/udhcpc.$1.log" 2>&1
	rm -f "$STATE/starting.$1"
}

dhcp_stop() {
	if [ -f "$STATE/udhcpc.$1.pid" ]; then
		read -r _pid <"$STATE/udhcpc.$1.pid" && kill "$_pid" 2>/dev/null
		rm -f "$STATE/udhcpc.$1.pid"
	fi
}
