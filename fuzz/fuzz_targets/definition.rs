//! Module definitions: `ModuleDefinition::from_bytes` on any bytes never
//! panics (its debug assertion also checks that serde accepts whatever the
//! shape check accepted); a rejection names at least one problem, each at
//! a line that exists, at most MAX_PROBLEMS of them plus a count, and each
//! message short however long the input's values are; an accepted
//! definition keeps the cross-field rules (pins, profiles and api name
//! manifest packages; the manifest is not empty) and the naming rules.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_model::{is_valid_arch, is_valid_module_name, is_valid_stream, MAX_PROBLEMS};
use strata_model::ModuleDefinition;

fuzz_target!(|data: &[u8]| {
    match ModuleDefinition::from_bytes(data, "fuzz.yaml") {
        Ok(d) => {
            assert!(is_valid_module_name(&d.name), "name {:?}", d.name);
            assert!(is_valid_stream(&d.stream), "stream {:?}", d.stream);
            assert!(d.arches.iter().all(|a| is_valid_arch(a)), "{:?}", d.arches);
            assert!(!d.packages.is_empty());
            for name in d.pins.keys() {
                assert!(d.packages.contains_key(name), "pin {name} not in packages");
            }
            for rpms in d.profiles.values() {
                for r in rpms {
                    assert!(d.packages.contains_key(r), "profile rpm {r} not in packages");
                }
            }
            for r in &d.api {
                assert!(d.packages.contains_key(r), "api rpm {r} not in packages");
            }
        }
        Err(e) => {
            assert!(!e.problems.is_empty(), "a rejection without a problem");
            assert!(e.problems.len() <= MAX_PROBLEMS + 1, "{} problems", e.problems.len());
            // YAML breaks lines at \n, \r\n and a lone \r.
            let text = String::from_utf8_lossy(data);
            let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 2;
            for p in &e.problems {
                if let Some(l) = p.line {
                    assert!(l >= 1 && l <= lines, "problem at line {l} of {lines}: {p:?}");
                }
                // Values and keys are cut short in messages; only a path
                // of at most 32 cut keys makes one long.
                assert!(p.key.len() + p.message.len() < 8192, "a long problem: {p:?}");
            }
            let _ = e.to_string();
        }
    }
});
