#!/bin/sh
# Report hot-plugged disks and NICs on the console, so volume and port attach tests can see
# them. Polls /sys once a second with builtins only (one fork, sleep, per round): there is
# no udev here, and mdev's hotplug helper would fork on every kernel event.
# $KNOWN_DISKS (" vda=1073741824 sr0=0 ") and $KNOWN_NICS (" eth0 ") come from /init: what
# it already printed at boot.
. /lib/labcloud/common.sh

disks=${KNOWN_DISKS:- }
nics=${KNOWN_NICS:- }

while :; do
	now=" "
	for d in /sys/block/*; do
		n=${d##*/}
		is_disk "$n" || continue
		s=0
		read -r s <"$d/size" 2>/dev/null
		sz=$((s * 512))
		now="$now$n=$sz "
		case $disks in
		*" $n=$sz "*) ;;
		*" $n="*) say "disk-resized $n size $sz" ;;
		*) say "disk-added $n size $sz" ;;
		esac
	done
	for e in $disks; do
		case $now in *" ${e%%=*}="*) ;; *) say "disk-removed ${e%%=*}" ;; esac
	done
	disks=$now

	now=" "
	for d in /sys/class/net/eth*; do
		[ -e "$d" ] || continue
		n=${d##*/}
		now="$now$n "
		case $nics in
		*" $n "*) ;;
		*)
			say "nic-added $n mac $(nic_mac "$n")"
			# DHCP takes up to ~3 s without a server; do not stall disk reports meanwhile.
			(dhcp_start "$n" && nic_line "$n") &
			;;
		esac
	done
	for n in $nics; do
		case $now in *" $n "*) ;; *)
			say "nic-removed $n"
			dhcp_stop "$n"
			;;
		esac
	done
	nics=$now
	sleep 1
done
