// SPDX-License-Identifier: GPL-2.0
/*
 * mkdata: writes the scratch disk's pattern files into a directory, for
 * mkfs.ext4 -d. Usage: mkdata DIR NAME SEED SIZE [NAME SEED SIZE]...
 * File NAME gets SIZE bytes of kaio_pattern(SEED, offset).
 */
#include <errno.h>
#include <stdlib.h>

#include "kaio_test.h"

int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	char path[4096];

	if (argc < 5 || (argc - 2) % 3) {
		fprintf(stderr, "usage: %s DIR NAME SEED SIZE...\n", argv[0]);
		return 2;
	}
	for (int a = 2; a < argc; a += 3) {
		uint32_t seed = strtoul(argv[a + 1], NULL, 0);
		uint64_t size = strtoull(argv[a + 2], NULL, 0);
		FILE *f;

		snprintf(path, sizeof(path), "%s/%s", argv[1], argv[a]);
		f = fopen(path, "w");
		if (!f) {
			perror(path);
			return 1;
		}
		for (uint64_t off = 0; off < size; off += sizeof(buf)) {
			size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);

			for (size_t i = 0; i < n; i++)
				buf[i] = kaio_pattern(seed, off + i);
			if (fwrite(buf, 1, n, f) != n) {
				perror(path);
				return 1;
			}
		}
		if (fclose(f)) {
			perror(path);
			return 1;
		}
	}
	return 0;
}
