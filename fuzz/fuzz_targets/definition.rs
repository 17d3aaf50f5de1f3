//! Module definitions: `ModuleDefinition::parse` on any UTF-8 text never
//! panics; a rejection names at least one problem, each at a line that
//! exists; an accepted definition keeps the cross-field rules (pins,
//! profiles and api name manifest packages; the manifest is not empty).
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_model::ModuleDefinition;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ModuleDefinition::parse(text, "fuzz.yaml") {
        Ok(d) => {
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
            // YAML breaks lines at \n, \r\n and a lone \r.
            let lines = text.replace("\r\n", "\n").matches(['\n', '\r']).count() + 2;
            for p in &e.problems {
                if let Some(l) = p.line {
                    assert!(l >= 1 && l <= lines, "problem at line {l} of {lines}: {p:?}");
                }
            }
            let _ = e.to_string();
        }
    }
});
