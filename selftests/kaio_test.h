/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by kaio's selftests and by mkdata, the host tool that fills
 * the scratch disk: the data pattern that every read is checked against, and
 * small accessors for the module's debugfs stats.
 */
#ifndef KAIO_TEST_H
#define KAIO_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Where the guest mounts the ext4 scratch disk. */
#define KAIO_SCRATCH		"/mnt/scratch"
#define KAIO_STATS		"/sys/kernel/debug/kaio/stats"

/*
 * Byte @off of the pattern file with seed @seed: no period shorter than the
 * file, so a misplaced page or a shifted offset is always detected.
 */
static inline uint8_t kaio_pattern(uint32_t seed, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;

	x ^= x >> 29;
	x *= 0x94D049BB133111EBull;
	x ^= x >> 32;
	return (uint8_t)(x >> ((off & 7) * 8));
}

/* Index of the first byte of @buf that differs from the pattern, or -1. */
static inline long kaio_pattern_check(const uint8_t *buf, size_t len,
				      uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != kaio_pattern(seed, off + i))
			return (long)i;
	return -1;
}

/* Value of counter @name in the module's debugfs stats, or -1. */
static inline long long kaio_stat(const char *name)
{
	char key[64];
	long long val;
	FILE *f = fopen(KAIO_STATS, "r");
	long long ret = -1;

	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", key, &val) == 2) {
		if (!strcmp(key, name)) {
			ret = val;
			break;
		}
	}
	fclose(f);
	return ret;
}

#endif /* KAIO_TEST_H */
