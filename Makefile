# SPDX-License-Identifier: GPL-2.0
#
# kaio. The two commands a user needs:
#   make demo    set up, build, boot the test kernel and show kaio working
#   make check   set up, build, boot the test kernel and run every test
#   make fuzz    the ioctl fuzzer, 1M ioctls (scripts/longrun.sh fuzz)
#   make stress  lifetime_test, fault_test, scale_test, kaiostress=200 (scripts/longrun.sh stress)
#   make lib     build/lib/libkaio.a and libkaio-aio.so.1 (the libaio ABI on
#                /dev/kaio; build/lib/aio/libaio.so.1 for LD_LIBRARY_PATH)
#   make bench-fio  Debian's fio, cold buffered reads: kaio-libaio, kernel libaio,
#                io_uring, psync (scripts/bench-fio.sh; docs/bench/fio.md)
#   make bench-http  Debian's wrk against Debian's nginx and kaio serve, static
#                files over loopback (scripts/bench-http.sh; docs/bench/http.md)
#
# Module only, against any Rust-enabled 6.12 build tree:
#   make modules KDIR=/path/to/linux-build
# KDIR defaults to the cached test kernel (scripts/build-kernel.sh).

KAIO_CACHE ?= $(HOME)/.cache/kaio
export KAIO_CACHE

KDIR ?= $(shell scripts/build-kernel.sh debug 2>/dev/null)
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) $(shell . scripts/env.sh; echo $$KAIO_KMAKE_FLAGS)

.PHONY: all modules clean lint fmt check demo bench setup kernel fuzz stress bench-fio bench-http lib

all: modules

modules:
	@test -n "$(KDIR)" || { echo "no kernel build tree: run 'make kernel' or pass KDIR=" >&2; exit 1; }
	$(KMAKE) modules

lint:
	scripts/lint.sh $(KDIR)/source

# The C libraries: libkaio (static) and libkaio-aio.so.1, libaio's ABI and
# symbol versions (lib/libaio.map) built against the system's <libaio.h>.
LIB_CFLAGS = -fPIC -Wall -Wextra -O2 -Iinclude/uapi -Ilib
LIB_OUT = build/lib

lib: $(LIB_OUT)/libkaio.a $(LIB_OUT)/libkaio-aio.so.1 $(LIB_OUT)/aio/libaio.so.1

$(LIB_OUT)/kaio.o: lib/kaio.c lib/kaio.h include/uapi/linux/kaio.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -c -o $@ $<

$(LIB_OUT)/aio.o: lib/aio.c lib/kaio.h include/uapi/linux/kaio.h
	@mkdir -p $(@D)
	$(CC) $(LIB_CFLAGS) -fvisibility=hidden -c -o $@ $<

$(LIB_OUT)/libkaio.a: $(LIB_OUT)/kaio.o
	rm -f $@
	$(AR) rcs $@ $^

$(LIB_OUT)/libkaio-aio.so.1: $(LIB_OUT)/aio.o $(LIB_OUT)/kaio.o lib/libaio.map
	$(CC) -shared -o $@ -Wl,-soname,libaio.so.1 -Wl,--version-script=lib/libaio.map \
		-Wl,-z,defs $(LIB_OUT)/aio.o $(LIB_OUT)/kaio.o -pthread

$(LIB_OUT)/aio/libaio.so.1: $(LIB_OUT)/libkaio-aio.so.1
	@mkdir -p $(@D)
	ln -sf ../libkaio-aio.so.1 $@

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

# Debian's fio on a cold 1 GiB file: kaio-libaio, kernel libaio, io_uring,
# psync (docs/bench/fio.md).
bench-fio:
	scripts/bench-fio.sh

# Debian's wrk against Debian's nginx (aio threads, with and without
# open_file_cache) and kaio serve: hot, cold and mixed static files
# (docs/bench/http.md).
bench-http:
	scripts/bench-http.sh

# Format the Rust sources with the kernel's rustfmt config.
fmt:
	/usr/bin/rustfmt --edition 2021 --config-path $(KDIR)/source/.rustfmt.toml src/*.rs
