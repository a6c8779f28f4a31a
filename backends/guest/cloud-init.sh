#!/bin/sh
# A small NoCloud datasource: a filesystem labelled "cidata" (usually an iso9660 CD-ROM)
# holding meta-data and user-data, as cloud-init reads it. Sourced by /init:
#   ci_setup        mount the seed, set the hostname, install SSH keys (before networking)
#   ci_run_userdata run user-data if it is a script (after networking, before "ready")
# Supported: meta-data local-hostname/hostname/public-keys; #cloud-config hostname/fqdn
# and ssh_authorized_keys (also nested under users:); "#!" scripts; a MIME multipart of
# those (text/cloud-config and text/x-shellscript parts, 7bit or 8bit, as labcloud makes).

CIDATA=/run/cidata
PARTS=/run/cloud-init/parts

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

# Split user-data into $PARTS/NN.cfg (cloud-config) and $PARTS/NN.sh (scripts), in order.
# A plain user-data file is one part; a MIME multipart is cut at its boundary.
ci_split() {
	ud=$CIDATA/user-data
	mkdir -p "$PARTS"
	[ -f "$ud" ] || return 0
	first=$(head -n1 "$ud")
	case $first in
	'#!'*) cp "$ud" "$PARTS/00.sh" ;;
	'#cloud-config'*) cp "$ud" "$PARTS/00.cfg" ;;
	[Cc]ontent-[Tt]ype:*)
		awk -v dir="$PARTS" '
			{ sub(/\r$/, "") }
			!b {
				if ($0 == "") {
					if (match(hdr, /boundary="[^"]+"/)) b = substr(hdr, RSTART + 10, RLENGTH - 11)
					else if (match(hdr, /boundary=[^ ;]+/)) b = substr(hdr, RSTART + 9, RLENGTH - 9)
					if (!b) exit
					next
				}
				hdr = hdr " " $0; next
			}
			$0 == "--" b "--" { if (out) close(out); exit }
			$0 == "--" b { if (out) close(out); out = ""; inhdr = 1; type = ""; next }
			inhdr {
				if ($0 == "") {
					inhdr = 0; n++
					if (type ~ /^text\/x-shellscript/) out = sprintf("%s/%02d.sh", dir, n)
					else if (type ~ /^text\/cloud-config/) out = sprintf("%s/%02d.cfg", dir, n)
					if (out) printf "" > out
					next
				}
				if (tolower($0) ~ /^content-type:/) { type = tolower($0); sub(/^content-type:[ \t]*/, "", type) }
				next
			}
			out { print >> out }
		' "$ud"
		;;
	esac
}

ci_setup() {
	ci_mount || return 0
	ci_split
	md=$CIDATA/meta-data
	cfgs=$(ls "$PARTS"/*.cfg 2>/dev/null)
	name=
	for cfg in $cfgs; do
		[ -n "$name" ] || name=$(ci_value hostname "$cfg")
		[ -n "$name" ] || name=$(ci_value fqdn "$cfg")
	done
	[ -n "$name" ] || name=$(ci_value local-hostname "$md")
	[ -n "$name" ] || name=$(ci_value hostname "$md")
	name=$(ci_clean_hostname "$name")
	if [ -n "$name" ]; then
		HOSTNAME=$name
		say "cloud-init hostname $name"
	fi
	# shellcheck disable=SC2086 # file names without spaces
	keys=$(ci_keys "$md" $cfgs)
	if [ -n "$keys" ]; then
		mkdir -p /root/.ssh
		chmod 700 /root/.ssh
		echo "$keys" >/root/.ssh/authorized_keys
		chmod 600 /root/.ssh/authorized_keys
		say "cloud-init ssh-keys $(echo "$keys" | wc -l)"
	fi
}

ci_run_userdata() {
	for script in "$PARTS"/*.sh; do
		[ -f "$script" ] || continue
		chmod 700 "$script"
		(cd /root && exec "$script") </dev/null
		say "cloud-init user-data ran exit $?"
	done
}
