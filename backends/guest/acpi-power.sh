#!/bin/sh
# The ACPI power button (virsh shutdown, QEMU system_powerdown): a clean poweroff via init.
exec /sbin/poweroff
