//! Arbitrary bytes as a cache file: `cache::read` must never panic, and a
//! repository it accepts must be safe to walk through every accessor.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use strata_repodata::cache;

fuzz_target!(|data: &[u8]| {
    let dir = common::scratch_dir();
    std::fs::write(cache::cache_path(dir, "sha256:0"), data).expect("write cache file");
    if let Ok(Some(mut repo)) = cache::read(dir, "sha256:0", "x", "x") {
        common::walk(&repo);
        // The pool must keep working after a load (its hash table is rebuilt).
        let id = repo.strings.intern("strata-fuzz-new-string");
        assert_eq!(repo.str(id), "strata-fuzz-new-string");
        for i in 0..repo.strings.len() as u32 {
            let s = repo.strings.get(i).to_owned();
            let j = repo.strings.intern(&s);
            assert_eq!(repo.str(j), s);
        }
    }
});
