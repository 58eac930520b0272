#![expect(clippy::panic, reason = "a build script reports failure by panicking")]
//! Builds the filter component (the `guest` crate for `wasm32-wasip2`) so that the `taskgate`
//! binary can embed it: `cargo run -p taskgate` then needs nothing but the Rust toolchain.
//!
//! The nested cargo uses its own target directory (sharing the outer one would deadlock on its
//! lock) and the `component` profile (opt-level 3: its comment in the workspace Cargo.toml says
//! why). Set `TASKGATE_SKIP_COMPONENT_BUILD=1` to embed an empty placeholder instead (only for
//! tooling that never runs the binary).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir.parent().unwrap_or(&manifest_dir).to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let embedded = out_dir.join("taskgate_filter.wasm");

    // The root Cargo.toml holds the `component` profile: a change there must rebuild it too.
    for path in [
        "guest/src",
        "guest/Cargo.toml",
        "wit",
        "Cargo.lock",
        "Cargo.toml",
    ] {
        println!("cargo:rerun-if-changed={}", workspace.join(path).display());
    }
    println!("cargo:rerun-if-env-changed=TASKGATE_SKIP_COMPONENT_BUILD");
    // `--version` names the interface the embedded component implements.
    println!(
        "cargo:rustc-env=TASKGATE_WIT_PACKAGE={}",
        wit_package(&workspace.join("wit/world.wit"))
    );

    if env::var_os("TASKGATE_SKIP_COMPONENT_BUILD").is_some() {
        write(&embedded, &[]);
        return;
    }
    ensure_target();

    let target_dir = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("target"))
        .join("component-build");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "taskgate-filter",
            "--profile",
            "component",
        ])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and wrappers (clippy, coverage, host rustflags) are not for this
    // build: it must produce the same component however the host is built.
    for (key, _) in env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_ENCODED_RUSTFLAGS")
            || key.starts_with("RUSTC_WORKSPACE_WRAPPER")
            || key.starts_with("RUSTC_WRAPPER")
            || key == "CARGO_MAKEFLAGS"
            || key.starts_with("CARGO_TARGET_")
            || key == "CARGO_BUILD_TARGET"
        {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd.status();
    if !status.as_ref().is_ok_and(|s| s.success()) {
        panic!("building the filter component failed ({status:?}); see the errors above");
    }
    let built = target_dir
        .join(TARGET)
        .join("component")
        .join("taskgate_filter.wasm");
    let bytes =
        std::fs::read(&built).unwrap_or_else(|e| panic!("reading {}: {e}", built.display()));
    write(&embedded, &bytes);
}

/// Installs the wasm target with rustup when the toolchain lacks it: rustup does not add the
/// targets listed in rust-toolchain.toml to a toolchain that is already installed.
fn ensure_target() {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists());
    if !installed {
        println!("cargo:warning=installing the {TARGET} target with rustup");
        let ok = Command::new("rustup")
            .args(["target", "add", TARGET])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            panic!("the {TARGET} target is missing and `rustup target add {TARGET}` failed");
        }
    }
}

/// The `package` line of the WIT world (`taskgate:filter@0.8.0`).
fn wit_package(world: &Path) -> String {
    let text = std::fs::read_to_string(world)
        .unwrap_or_else(|e| panic!("reading {}: {e}", world.display()));
    text.lines()
        .find_map(|line| line.trim().strip_prefix("package "))
        .map(|rest| rest.trim_end_matches(';').trim().to_owned())
        .unwrap_or_else(|| panic!("{} has no package line", world.display()))
}

fn write(path: &Path, bytes: &[u8]) {
    // Rewrite only on change so the host does not relink for an identical component.
    if std::fs::read(path).is_ok_and(|old| old == bytes) {
        return;
    }
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
