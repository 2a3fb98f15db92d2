# SPDX-License-Identifier: GPL-2.0
# Shared by the benchmarks that boot the release kernel once with Debian's
# programs in the guest (scripts/bench-fio.sh, scripts/bench-http.sh);
# sourced, not run.
#   bench_prepare NAME   toolchain, release kernel (cached), release module
#                        and the selftests every guest carries; sets here,
#                        krel, mod and out (build/bench-NAME)
#   bench_knob VAR WORD  adds WORD=$VAR to $append (the kernel command
#                        line words of bench_boot) when VAR is set
#   bench_boot MODE APPEND WHAT
#                        boots qemu/run.sh MODE with the release module and
#                        kaio<NAME>... words on the kernel command line,
#                        holding flock KAIO_QEMU_LOCK (when set) around the
#                        boot only; KAIO_TIMEOUT (default 2400 s)
#   bench_finished NAME  exits 1, showing the logs' tails, unless the guest
#                        printed "# NAME: finished" and "# guest: done"
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"

bench_prepare() {
	scripts/setup-toolchain.sh
	. scripts/env.sh
	krel=$(scripts/build-kernel.sh release)
	out="$here/build/bench-$1"
	mod="$here/build/kmod-release"
	mkdir -p "$out"
	scripts/build-release-module.sh "$krel" "$mod"
	# qemu/run.sh puts the selftests and kaioinfo in every guest.
	make -s -C selftests KSRC="$krel/source" OUT="$here/build/selftests"
}

bench_knob() {
	[ -z "${!1:-}" ] || append+=" $2=${!1}"
}

bench_boot() {
	local mode=$1 append=$2 what=$3 start lock=()
	[ -z "${KAIO_QEMU_LOCK:-}" ] || lock=(flock -o "$KAIO_QEMU_LOCK")
	echo "# boot: QEMU, release kernel, $what"
	start=$SECONDS
	KAIO_KO="$mod/kaio.ko" KAIO_QUIET=${KAIO_QUIET:-1} KAIO_TIMEOUT=${KAIO_TIMEOUT:-2400} \
		KAIO_APPEND="$append${KAIO_APPEND:+ $KAIO_APPEND}" \
		"${lock[@]}" qemu/run.sh "$krel" "$mode" "$out" || true
	echo "# boot: $((SECONDS - start)) s"
}

bench_finished() {
	if ! grep -q "^# $1: finished" "$out/tap.log" || ! grep -q '^# guest: done' "$out/tap.log"; then
		tail -30 "$out/console.log"
		tail -20 "$out/tap.log" | cut -c1-300
		echo "bench-$1: the guest did not finish" >&2
		exit 1
	fi
}
