//! The check that a crate's modules form layers: each module uses (through
//! `crate::`) only the modules before it in the crate's ORDER, so there is
//! no import cycle and the crate reads top to bottom. Shared by the crates
//! that keep such an order (compose, solve), included by path in their
//! tests.

use std::path::{Path, PathBuf};

/// The modules a source file names through `crate::`, comments left out.
fn uses(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            out.push(name);
        }
    }
    out
}

/// Panics naming the file when a module of `crate_dir/src` uses one that
/// comes after it in `order`, names one `order` lacks, or when a module
/// in src/ is missing from `order`.
pub(crate) fn check(crate_dir: &str, order: &[&str]) {
    let src = Path::new(crate_dir).join("src");
    let mut checked = 0;
    for (rank, module) in order.iter().enumerate() {
        let file = src.join(format!("{module}.rs"));
        let files: Vec<PathBuf> = if file.exists() {
            vec![file]
        } else {
            std::fs::read_dir(src.join(module))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect()
        };
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for used in uses(&text) {
                let Some(used_rank) = order.iter().position(|m| *m == used) else {
                    panic!("{}: `crate::{used}` is not in ORDER", file.display());
                };
                assert!(
                    used_rank < rank || used == *module,
                    "{} uses `crate::{used}`, which comes after `{module}`",
                    file.display()
                );
            }
            checked += 1;
        }
    }
    let modules = std::fs::read_dir(&src).unwrap().count() - 1; // lib.rs
    assert_eq!(
        modules,
        order.len(),
        "a module in src/ is missing from ORDER"
    );
    assert!(checked >= order.len());
}
