# SPDX-License-Identifier: GPL-2.0
#
# kaio. The two commands a user needs:
#   make demo    set up, build, boot the test kernel and show kaio working
#   make check   set up, build, boot the test kernel and run every test
#   make fuzz    the ioctl fuzzer, 1M ioctls (scripts/longrun.sh fuzz)
#   make stress  lifetime_test, fault_test, scale_test, kaiostress=200 (scripts/longrun.sh stress)
#
# Module only, against any Rust-enabled 6.12 build tree:
#   make modules KDIR=/path/to/linux-build
# KDIR defaults to the cached test kernel (scripts/build-kernel.sh).

KAIO_CACHE ?= $(HOME)/.cache/kaio
export KAIO_CACHE

KDIR ?= $(shell scripts/build-kernel.sh debug 2>/dev/null)
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) $(shell . scripts/env.sh; echo $$KAIO_KMAKE_FLAGS)

.PHONY: all modules clean lint fmt check demo bench setup kernel fuzz stress

all: modules

modules:
	@test -n "$(KDIR)" || { echo "no kernel build tree: run 'make kernel' or pass KDIR=" >&2; exit 1; }
	$(KMAKE) modules

lint:
	scripts/lint.sh $(KDIR)/source

clean:
	@if [ -n "$(KDIR)" ]; then $(KMAKE) clean; fi
	$(MAKE) -C selftests clean
	rm -rf build

setup:
	scripts/setup-toolchain.sh

kernel: setup
	scripts/build-kernel.sh debug

check:
	scripts/check.sh

fuzz:
	scripts/longrun.sh fuzz

stress:
	scripts/longrun.sh stress

demo:
	scripts/demo.sh

bench:
	scripts/bench.sh

# Format the Rust sources with the kernel's rustfmt config.
fmt:
	/usr/bin/rustfmt --edition 2021 --config-path $(KDIR)/source/.rustfmt.toml src/*.rs
