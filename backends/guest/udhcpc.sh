#!/bin/sh
# udhcpc event script: configures address, MTU, routes and DNS for one interface.
# udhcpc sets $1 (deconfig|bound|renew|leasefail|nak) and $interface, $ip, $mask (prefix
# length), $router, $dns, $domain, $search, $mtu, $staticroutes.
. /lib/labcloud/common.sh

# One file per interface, merged, so two NICs do not overwrite each other's servers; the
# resolver reads only the last "search" line, so the domains go on one line.
resolv_update() {
	cat "$STATE"/resolv.conf.* 2>/dev/null | awk '
		$1 == "search" { for (i = 2; i <= NF; i++) s = s " " $i; next }
		{ print }
		END { if (s != "") print "search" s }' >/etc/resolv.conf
}

# Several NICs may each bring a default route; a per-interface metric keeps them apart.
metric() {
	_i=0
	read -r _i <"/sys/class/net/$interface/ifindex" 2>/dev/null
	echo $((100 + _i))
}

case $1 in
deconfig)
	ip -4 addr flush dev "$interface" 2>/dev/null
	ip link set dev "$interface" up
	rm -f "$STATE/resolv.conf.$interface"
	resolv_update
	;;
bound | renew)
	old=$(nic_ip "$interface")
	if [ "$old" != "$ip/${mask:-24}" ]; then
		ip -4 addr flush dev "$interface"
		ip addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
	fi
	[ -n "$mtu" ] && ip link set dev "$interface" mtu "$mtu"
	m=$(metric)
	while ip -4 route del default dev "$interface" 2>/dev/null; do :; done
	if [ -n "$staticroutes" ]; then
		# RFC 3442: with classless routes the router option is ignored.
		set -f
		# shellcheck disable=SC2086 # "dest/len gw dest/len gw ..." pairs
		set -- $staticroutes
		set +f
		while [ $# -ge 2 ]; do
			if [ "$1" = 0.0.0.0/0 ]; then
				ip route replace default via "$2" dev "$interface" metric "$m"
			elif [ "$2" = 0.0.0.0 ]; then
				ip route replace "$1" dev "$interface" metric "$m"
			else
				ip route replace "$1" via "$2" dev "$interface" metric "$m"
			fi
			shift 2
		done
	elif [ -n "$router" ]; then
		for r in $router; do
			ip route replace default via "$r" dev "$interface" metric "$m" && break
		done
	fi
	{
		[ -n "$search" ] && echo "search $search"
		[ -z "$search" ] && [ -n "$domain" ] && echo "search $domain"
		for s in $dns; do echo "nameserver $s"; done
	} >"$STATE/resolv.conf.$interface"
	resolv_update
	# Whoever ran dhcp_start prints the first nic line; report later leases that change.
	if [ ! -e "$STATE/starting.$interface" ] && [ "$old" != "$ip/${mask:-24}" ]; then
		nic_line "$interface" >/dev/console
	fi
	;;
leasefail | nak) ;;
esac
exit 0
