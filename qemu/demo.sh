#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make demo` (runs after /init has loaded kaio).
echo "== kaio demo =="
echo "\$ ls -l /dev/kaio"
ls -l /dev/kaio
echo "\$ kaioinfo"
/tests/kaioinfo
echo "\$ cat /sys/kernel/debug/kaio/stats"
cat /sys/kernel/debug/kaio/stats
echo "\$ rmmod kaio   (done by the guest's teardown below)"
