// SPDX-License-Identifier: GPL-2.0
/*
 * kaio C shim: registers /dev/kaio as a misc device and forwards its file
 * operations to the Rust code. Everything with logic lives in Rust; this file
 * only reaches the kernel APIs that 6.12's Rust bindings do not cover.
 */
#include <linux/bug.h>
#include <linux/debugfs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/seq_file.h>

#include "kaio_shim.h"

static bool inject_warn;
module_param(inject_warn, bool, 0444);
MODULE_PARM_DESC(inject_warn,
		 "Test only: raise a WARNING at load to prove the test log gate fails");

static const struct file_operations kaio_fops = {
	.owner		= THIS_MODULE,
	.open		= kaio_rust_open,
	.release	= kaio_rust_release,
	.unlocked_ioctl	= kaio_rust_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice kaio_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kaio",
	.fops	= &kaio_fops,
	.mode	= 0666,
};

static struct dentry *kaio_debugfs;

/* /sys/kernel/debug/kaio/stats: one "name value" line per Rust counter. */
static int kaio_stats_show(struct seq_file *m, void *unused)
{
	const char *name;
	unsigned int i;
	u64 val;

	for (i = 0; kaio_rust_stat(i, &name, &val); i++)
		seq_printf(m, "%s %llu\n", name, val);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kaio_stats);

int kaio_shim_register(void)
{
	int ret;

	WARN(inject_warn, "kaio: inject_warn=1: deliberate warning for the log gate test\n");
	/* debugfs is optional, as everywhere in the kernel: errors are ignored. */
	kaio_debugfs = debugfs_create_dir("kaio", NULL);
	debugfs_create_file("stats", 0444, kaio_debugfs, NULL, &kaio_stats_fops);
	ret = misc_register(&kaio_misc);
	if (ret)
		debugfs_remove(kaio_debugfs);
	return ret;
}

void kaio_shim_deregister(void)
{
	misc_deregister(&kaio_misc);
	debugfs_remove(kaio_debugfs);
}
