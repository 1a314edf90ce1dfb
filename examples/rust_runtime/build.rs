//! Compiles `../tiny_cnn/model.onnx` with nnc into `$OUT_DIR/tiny_cnn.{a,h,json}`
//! and links the library. The compiler is `$NNC`, by default the workspace's
//! release build (`cargo build --release` at the repository root first).

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let model = manifest_dir.join("../tiny_cnn/model.onnx");
    let nnc = env::var_os("NNC")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../../target/release/nnc"));
    println!("cargo:rerun-if-env-changed=NNC");
    println!("cargo:rerun-if-changed={}", model.display());
    println!("cargo:rerun-if-changed={}", nnc.display());

    // The machine the example is built for: the host, or the triple cargo cross-
    // compiles to (`cargo build --target aarch64-unknown-linux-gnu`).
    let target = env::var("TARGET").expect("set by cargo");
    let host = env::var("HOST").expect("set by cargo");
    let nnc_target = if target == host {
        "host".to_string()
    } else {
        target
    };

    let status = Command::new(&nnc)
        .arg("build")
        .arg(&model)
        .args(["--target", &nnc_target, "-o"])
        .arg(&out_dir)
        .args(["--name", "tiny_cnn"])
        .status()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run nnc at {} ({e}); build it with `cargo build --release` at the \
                 repository root or point NNC at it",
                nnc.display()
            )
        });
    assert!(status.success(), "nnc build failed ({status})");

    println!("cargo:rustc-link-search=native={}", out_dir.display());
    // `tiny_cnn.a` as named: nnc does not write the `lib` prefix.
    println!("cargo:rustc-link-lib=static:+verbatim=tiny_cnn.a");
}
