// SPDX-License-Identifier: GPL-2.0
/*
 * The UAPI layout as the C compiler sees it. Kbuild compiles this file to
 * assembly only and turns each DEFINE into a Rust constant (uapi_layout.rs),
 * the technique of the kernel's asm-offsets; src/uapi.rs then asserts at
 * compile time that its mirror structures match these numbers exactly.
 */
#include <linux/kbuild.h>

#include "../include/uapi/linux/kaio.h"

#define SIZE(s)		DEFINE(s##_SIZE, sizeof(struct kaio_##s))
#define FIELD(s, f)	DEFINE(s##_##f, offsetof(struct kaio_##s, f))

int main(void)
{
	DEFINE(ABI_VERSION, KAIO_ABI_VERSION);
	DEFINE(IOC_VERSION, KAIO_IOC_VERSION);

	SIZE(version);
	FIELD(version, abi_version);
	FIELD(version, reserved);
	FIELD(version, features);
	return 0;
}
