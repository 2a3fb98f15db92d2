// SPDX-License-Identifier: GPL-2.0
//! Generates the ABI numbers from `include/uapi/linux/kaio.h` itself: a C
//! program, compiled with the system C compiler against the header, prints
//! every size, field offset, ioctl number and constant the crate uses. The
//! crate includes the result and asserts at compile time that its
//! `repr(C)` mirrors have exactly those sizes and offsets.
use std::{env, fs, path::PathBuf, process::Command};

const FIELDS: &[(&str, &[&str])] = &[
    ("version", &["abi_version", "reserved", "features"]),
    ("setup", &["entries", "flags", "reserved", "ring_size", "events_off", "event_size", "max_steps"]),
    ("ring", &["head", "tail", "mask", "entries"]),
    ("step", &["opcode", "reserved0", "reserved1", "fd", "addr", "len", "offset", "op_flags", "arg", "reserved2"]),
    ("iocb", &["user_data", "flags", "nr_steps", "reserved0", "resfd", "reserved1", "reserved2", "steps"]),
    ("submit", &["iocbs", "nr", "flags", "reserved"]),
    ("event", &["user_data", "result", "step", "nr_steps", "flags", "fd", "error", "bytes", "step_result"]),
    ("getevents", &["events", "min_nr", "max_nr", "timeout_ns", "sigmask"]),
    ("cancel", &["user_data", "reserved"]),
];

const CONSTS: &[&str] = &[
    "KAIO_ABI_VERSION", "KAIO_MAX_STEPS", "KAIO_IOC_VERSION", "KAIO_IOC_SETUP", "KAIO_IOC_SUBMIT",
    "KAIO_IOC_GETEVENTS", "KAIO_IOC_CANCEL", "KAIO_IOC_EVENTFD", "KAIO_OP_OPEN", "KAIO_OP_FD",
    "KAIO_OP_READ", "KAIO_OP_WRITE", "KAIO_OP_FSYNC", "KAIO_OP_CLOSE", "KAIO_OP_KEEP",
    "KAIO_OP_SENDFILE", "KAIO_FSYNC_DATASYNC", "KAIO_KEEP_CLOEXEC", "KAIO_SENDFILE_NOCACHE",
    "KAIO_IOCB_SHORT_OK", "KAIO_EV_CANCELED", "KAIO_EV_FD", "KAIO_EV_DONE", "KAIO_OP_SEND", "KAIO_OP_RECV",
    "KAIO_OP_STATX", "KAIO_SEND_MORE", "KAIO_SEND_MAX", "KAIO_OPEN_IN_ROOT", "KAIO_FEAT_RESFD", "KAIO_FEAT_VECTOR",
    "KAIO_FEAT_NOWAIT", "KAIO_FEAT_SIGMASK", "KAIO_FEAT_SOCKET", "KAIO_FEAT_STATX", "KAIO_FEAT_IN_ROOT",
];

/// Signed constants (printed as such).
const SIGNED: &[&str] = &["KAIO_FD_CHAIN"];

fn main() {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../include/uapi");
    let header = root.join("linux/kaio.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let out = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut c = String::from("#include <stdio.h>\n#include <stddef.h>\n#include <linux/kaio.h>\nint main(void) {\n");
    let mut line = |name: String, expr: String| {
        c += &format!(
            "printf(\"/// `{expr}` in the header.\\npub const {name}: u64 = %llu;\\n\", (unsigned long long)({expr}));\n"
        );
    };
    for (s, fields) in FIELDS {
        line(format!("{}_SIZE", s.to_uppercase()), format!("sizeof(struct kaio_{s})"));
        for f in *fields {
            line(format!("{}_{}", s.to_uppercase(), f.to_uppercase()), format!("offsetof(struct kaio_{s}, {f})"));
        }
    }
    for k in CONSTS {
        line(k.trim_start_matches("KAIO_").to_string(), k.to_string());
    }
    for k in SIGNED {
        let name = k.trim_start_matches("KAIO_");
        c += &format!("printf(\"/// `{k}` in the header.\\npub const {name}: i64 = %lld;\\n\", (long long)({k}));\n");
    }
    c += "return 0;\n}\n";
    fs::write(out.join("layout.c"), c).unwrap();
    let cc = env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .arg("-I")
        .arg(&root)
        .arg("-o")
        .arg(out.join("layout"))
        .arg(out.join("layout.c"))
        .status()
        .expect("run the C compiler");
    assert!(st.success(), "compiling the layout probe against {} failed", header.display());
    let o = Command::new(out.join("layout")).output().expect("run the layout probe");
    assert!(o.status.success());
    fs::write(out.join("layout.rs"), o.stdout).unwrap();
}
