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
#
# Install (nothing is built as root: build first, then install):
#   make modules KDIR=/lib/modules/$(uname -r)/build && make lib && make client
#   sudo make install    kaio.ko into /lib/modules/<release>/extra (+ depmod),
#                        <linux/kaio.h> and <kaio.h>, libkaio.so.$(SOVERSION) (+ .so,
#                        .a) and kaio.pc, the kaio CLI, docs/kaio.7 (+ ldconfig)
#   sudo make uninstall  removes exactly what install put (its manifest,
#                        $(PREFIX)/share/kaio/install-manifest)
#   DESTDIR=/stage stages into another root (depmod -b, no ldconfig); PREFIX
#   (/usr/local), LIBDIR, INCLUDEDIR, BINDIR, MANDIR as usual. The module's
#   release is its own vermagic's; KDIR= given must match it.
#   make dkms-source     the module's sources and dkms.conf into
#                        $(DESTDIR)/usr/src/kaio-<version>, for dkms add/install

KAIO_CACHE ?= $(HOME)/.cache/kaio
export KAIO_CACHE

KDIR ?= $(shell scripts/build-kernel.sh debug 2>/dev/null)
KMAKE = $(MAKE) -C $(KDIR) M=$(CURDIR) $(shell . scripts/env.sh; echo $$KAIO_KMAKE_FLAGS)

.PHONY: all modules clean lint fmt check demo bench setup kernel fuzz stress bench-fio bench-http lib
.PHONY: client install uninstall dkms-source man

all: modules

modules:
	@test -n "$(KDIR)" || { echo "no kernel build tree: run 'make kernel' or pass KDIR=" >&2; exit 1; }
	$(KMAKE) modules

lint:
	scripts/lint.sh $(KDIR)/source

# docs/kaio.7, the man page, from docs/kaio.7.md (pandoc; the result is
# committed, and make lint checks that it is current).
man:
	scripts/man.sh

# The C libraries: libkaio (static) and libkaio-aio.so.1, libaio's ABI and
# symbol versions (lib/libaio.map) built against the system's <libaio.h>.
LIB_CFLAGS = -fPIC -Wall -Wextra -O2 -Iinclude/uapi -Ilib
LIB_OUT = build/lib
# kaio's version (the Rust workspace's; dkms.conf's PACKAGE_VERSION too) and
# libkaio's SONAME version (the C API's ABI: bump it when a change breaks callers).
KAIO_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' client/Cargo.toml)
SOVERSION = 0

lib: $(LIB_OUT)/libkaio.a $(LIB_OUT)/libkaio-aio.so.1 $(LIB_OUT)/aio/libaio.so.1 \
	$(LIB_OUT)/libkaio.so.$(SOVERSION) $(LIB_OUT)/libkaio.so

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

# libkaio as a shared library: libkaio.so.<version>, SONAME libkaio.so.$(SOVERSION).
$(LIB_OUT)/libkaio.so.$(KAIO_VERSION): $(LIB_OUT)/kaio.o
	$(CC) -shared -o $@ -Wl,-soname,libkaio.so.$(SOVERSION) -Wl,-z,defs $^

$(LIB_OUT)/libkaio.so.$(SOVERSION): $(LIB_OUT)/libkaio.so.$(KAIO_VERSION)
	ln -sf $(<F) $@

$(LIB_OUT)/libkaio.so: $(LIB_OUT)/libkaio.so.$(SOVERSION)
	ln -sf $(<F) $@

# The static kaio CLI (build/bin/kaio).
client:
	scripts/build-client.sh

# make install / make uninstall / make dkms-source: scripts/install.sh.
# KDIR reaches it only when given (it then checks kaio.ko's release).
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
KO ?= kaio.ko
INSTALL_ENV = DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" LIBDIR="$(LIBDIR)" \
	INCLUDEDIR="$(INCLUDEDIR)" BINDIR="$(BINDIR)" MANDIR="$(MANDIR)" KO="$(KO)" \
	KAIO_VERSION="$(KAIO_VERSION)" SOVERSION="$(SOVERSION)" KERNELRELEASE="$(KERNELRELEASE)" \
	KDIR="$(if $(filter command line environment,$(origin KDIR)),$(KDIR))"

install: lib
	$(INSTALL_ENV) scripts/install.sh install

uninstall:
	$(INSTALL_ENV) scripts/install.sh uninstall

dkms-source:
	$(INSTALL_ENV) scripts/install.sh dkms-source "$(DESTDIR)/usr/src/kaio-$(KAIO_VERSION)"

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
