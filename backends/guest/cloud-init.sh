#!/bin/sh
# A small NoCloud datasource: a filesystem labelled "cidata" (usually an iso9660 CD-ROM)
# holding meta-data and user-data, as cloud-init reads it. Sourced by /init:
#   ci_setup        mount the seed, set the hostname, install SSH keys (before networking)
#   ci_run_userdata run user-data if it is a script (after networking, before "ready")
# Supported: meta-data local-hostname/hostname/public-keys; #cloud-config hostname/fqdn
# and ssh_authorized_keys (also nested under users:); "#!" scripts. No MIME multipart.

CIDATA=/run/cidata

# Find the seed: findfs reads labels of everything in /proc/partitions; as a fallback try
# mounting each CD-ROM and disk read-only as iso9660 and look for meta-data.
ci_mount() {
	mkdir -p "$CIDATA"
	for label in cidata CIDATA; do
		dev=$(findfs "LABEL=$label" 2>/dev/null) || continue
		mount -o ro "$dev" "$CIDATA" 2>/dev/null && return 0
	done
	for b in /sys/block/sr* /sys/block/vd* /sys/block/sd* /sys/block/hd*; do
		[ -e "$b" ] || continue
		dev=/dev/${b##*/}
		if mount -t iso9660 -o ro "$dev" "$CIDATA" 2>/dev/null; then
			[ -f "$CIDATA/meta-data" ] && return 0
			umount "$CIDATA"
		fi
	done
	return 1
}

# Value of a top-level "key: value" line of a YAML file, quotes stripped.
ci_value() {
	awk -v key="$1" '
		index($0, key ":") == 1 {
			v = substr($0, length(key) + 2)
			sub(/^[ \t]+/, "", v); sub(/[ \t\r]+$/, "", v)
			if (v ~ /^".*"$/ || v ~ /^'\''.*'\''$/) v = substr(v, 2, length(v) - 2)
			print v; exit
		}' "$2" 2>/dev/null
}

# Items of every "ssh_authorized_keys:" / "public-keys:" list, one per line.
ci_keys() {
	awk '
		function indent(s) { match(s, /^[ \t]*/); return RLENGTH }
		/^[ \t]*(ssh_authorized_keys|public-keys|public_keys):[ \t]*$/ {
			inlist = 1; ind = indent($0); next
		}
		inlist {
			if ($0 ~ /^[ \t]*(#.*)?$/) next
			if ($0 ~ /^[ \t]*- / && indent($0) >= ind) {
				v = $0; sub(/^[ \t]*- +/, "", v); sub(/[ \t\r]+$/, "", v)
				if (v ~ /^".*"$/ || v ~ /^'\''.*'\''$/) v = substr(v, 2, length(v) - 2)
				if (v != "") print v
				next
			}
			inlist = 0
		}' "$@" 2>/dev/null
}

# Keep what hostname(1) and DHCP accept.
ci_clean_hostname() {
	echo "$1" | tr -cd 'A-Za-z0-9.-' | cut -c1-63
}

ci_setup() {
	ci_mount || return 0
	md=$CIDATA/meta-data
	ud=$CIDATA/user-data
	name=
	if [ -f "$ud" ] && head -n1 "$ud" | grep -q '^#cloud-config'; then
		name=$(ci_value hostname "$ud")
		[ -n "$name" ] || name=$(ci_value fqdn "$ud")
	fi
	[ -n "$name" ] || name=$(ci_value local-hostname "$md")
	[ -n "$name" ] || name=$(ci_value hostname "$md")
	name=$(ci_clean_hostname "$name")
	if [ -n "$name" ]; then
		HOSTNAME=$name
		say "cloud-init hostname $name"
	fi
	files=$md
	[ -f "$ud" ] && head -n1 "$ud" | grep -q '^#cloud-config' && files="$md $ud"
	# shellcheck disable=SC2086 # two file names
	keys=$(ci_keys $files)
	if [ -n "$keys" ]; then
		mkdir -p /root/.ssh
		chmod 700 /root/.ssh
		echo "$keys" >/root/.ssh/authorized_keys
		chmod 600 /root/.ssh/authorized_keys
		say "cloud-init ssh-keys $(echo "$keys" | wc -l)"
	fi
}

ci_run_userdata() {
	ud=$CIDATA/user-data
	[ -f "$ud" ] || return 0
	head -c2 "$ud" | grep -q '^#!' || return 0
	mkdir -p /run/cloud-init
	cp "$ud" /run/cloud-init/user-data
	chmod 700 /run/cloud-init/user-data
	(cd /root && exec /run/cloud-init/user-data) </dev/null
	say "cloud-init user-data ran exit $?"
}
