#!/bin/sh
# The root shell on the serial console; busybox init starts it again when it exits.
cd /root || cd /
exec /bin/sh -l
