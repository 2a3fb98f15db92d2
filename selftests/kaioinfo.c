// SPDX-License-Identifier: GPL-2.0
/*
 * kaioinfo: prints /dev/kaio's ABI version and features, and says clearly
 * when the device is missing or speaks another ABI.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kaio.h>

int main(void)
{
	struct kaio_version v;
	int fd = open(KAIO_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "kaioinfo: %s: %s (is the kaio module loaded?)\n",
			KAIO_DEVICE, strerror(errno));
		return 1;
	}
	if (ioctl(fd, KAIO_IOC_VERSION, &v)) {
		fprintf(stderr, "kaioinfo: KAIO_IOC_VERSION: %s\n", strerror(errno));
		return 1;
	}
	printf("%s: ABI version %u, features %#llx\n", KAIO_DEVICE,
	       v.abi_version, (unsigned long long)v.features);
	if (v.abi_version != KAIO_ABI_VERSION) {
		fprintf(stderr, "kaioinfo: module speaks ABI %u, this tool ABI %u\n",
			v.abi_version, KAIO_ABI_VERSION);
		return 1;
	}
	close(fd);
	return 0;
}
