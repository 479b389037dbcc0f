//! The install script (scripts/install-deps.sh) is the only place that names system
//! dependencies, so a crate that starts building native code must be listed there: the build
//! once passed CI only because libclang was installed by hand on the machine that ran it.
//!
//! Every crate the Linux build resolves that declares a `links` key or has a build-dependency
//! that compiles or finds native code (bindgen, cc, cmake, pkg-config) must have a
//! `#   crate NAME: PACKAGES` line in the script, and each package it names must be one the
//! script installs for the `build` group.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

const NATIVE_BUILD_DEPS: [&str; 4] = ["bindgen", "cc", "cmake", "pkg-config"];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(Path::parent)
        .unwrap()
}

struct Script {
    /// crate name → the packages its line names (empty for "none").
    crates: BTreeMap<String, Vec<String>>,
    build_packages: BTreeSet<String>,
}

fn read_script() -> Script {
    let text = std::fs::read_to_string(workspace_root().join("scripts/install-deps.sh")).unwrap();
    let mut crates = BTreeMap::new();
    let mut build_packages = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#   crate ") {
            let (name, needs) = rest.split_once(':').unwrap();
            let needs = needs.trim();
            let packages = if needs.starts_with("none") {
                assert!(
                    needs.len() > "none".len(),
                    "{name}: say why it needs nothing"
                );
                Vec::new()
            } else {
                needs.split_whitespace().map(str::to_owned).collect()
            };
            crates.insert(name.trim().to_owned(), packages);
        } else if let Some(row) = line.trim().strip_prefix("\"build|") {
            build_packages.insert(row.split('|').next().unwrap().to_owned());
        }
    }
    assert!(!crates.is_empty() && !build_packages.is_empty());
    Script {
        crates,
        build_packages,
    }
}

/// `cargo metadata` of the workspace as the Linux build resolves it.
fn metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "metadata",
            "--format-version=1",
            "--locked",
            "--offline",
            "--filter-platform=x86_64-unknown-linux-gnu",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The crates of the Linux build that build or link native code.
fn native_crates(meta: &serde_json::Value) -> BTreeSet<String> {
    let names: BTreeMap<&str, &serde_json::Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let mut native = BTreeSet::new();
    for node in meta["resolve"]["nodes"].as_array().unwrap() {
        let package = names[node["id"].as_str().unwrap()];
        let links = !package["links"].is_null();
        let builds_native = node["deps"].as_array().unwrap().iter().any(|d| {
            let is_build = d["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"] == "build");
            let name = names[d["pkg"].as_str().unwrap()]["name"].as_str().unwrap();
            is_build && NATIVE_BUILD_DEPS.contains(&name)
        });
        if links || builds_native {
            native.insert(package["name"].as_str().unwrap().to_owned());
        }
    }
    native
}

#[test]
fn every_native_crate_has_its_system_packages_in_the_install_script() {
    let script = read_script();
    let native = native_crates(&metadata());
    assert!(native.contains("pg_query"), "{native:?}");
    let unlisted: Vec<_> = native
        .iter()
        .filter(|c| !script.crates.contains_key(*c))
        .collect();
    assert!(
        unlisted.is_empty(),
        "crates that build native code are not in scripts/install-deps.sh: {unlisted:?}; add a \
         `#   crate NAME: PACKAGES` line naming the Debian packages each needs (or `none (why)`), \
         with a build row for each package"
    );
    for (name, packages) in &script.crates {
        for package in packages {
            assert!(
                script.build_packages.contains(package),
                "crate {name} needs {package}, which the script does not install for `build`"
            );
        }
    }
}

#[test]
fn the_script_checks_for_the_library_bindgen_loads_not_a_look_alike() {
    let text = std::fs::read_to_string(workspace_root().join("scripts/install-deps.sh")).unwrap();
    // libclang-cpp.so.N ships with the base image and satisfies `libclang*`: it is not the
    // library clang-sys opens.
    assert!(text.contains("|/usr/lib/llvm-*/lib/libclang.so|"));
    assert!(!text.contains("libclang*"));
}

/// README states the toolchain to install as the workspace's `rust-version`; it must be one
/// that builds every dependency in Cargo.lock.
#[test]
fn the_workspace_rust_version_builds_every_dependency() {
    let meta = metadata();
    // Padded to major.minor.patch: `1.95` and `1.95.0` are the same toolchain.
    let version = |v: &serde_json::Value| -> Option<Vec<u64>> {
        let mut parts: Vec<u64> = v.as_str()?.split('.').map(|n| n.parse().unwrap()).collect();
        parts.resize(3, 0);
        Some(parts)
    };
    let resolved: BTreeSet<&str> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "sluice")
        .and_then(|p| version(&p["rust_version"]))
        .unwrap();
    let too_new: Vec<String> = packages
        .iter()
        .filter(|p| resolved.contains(p["id"].as_str().unwrap()))
        .filter(|p| version(&p["rust_version"]).is_some_and(|v| v > ours))
        .map(|p| format!("{} {}", p["name"], p["rust_version"]))
        .collect();
    assert!(
        too_new.is_empty(),
        "Cargo.toml's rust-version {ours:?} is older than these dependencies need: {too_new:?}"
    );
}
