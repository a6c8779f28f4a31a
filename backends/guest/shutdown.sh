#!/bin/sh
# Run by busybox init before it kills everything and powers off or reboots.
. /lib/labcloud/common.sh
say "shutdown" >/dev/console
sync
umount -a -r 2>/dev/null
exit 0
