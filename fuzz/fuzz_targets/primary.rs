//! primary.xml (already decompressed) through `parse_primary`; on success,
//! every package through the public accessors, the parser's layout
//! invariants, and a cache write/read round trip.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use strata_repodata::{cache, parse_primary, Repo};

fuzz_target!(|data: &[u8]| {
    let mut repo = Repo::empty("fuzz", "fuzz", "sha256:0");
    if parse_primary(&mut &data[..], "fuzz/primary.xml", &mut repo).is_err() {
        return;
    }
    common::check_primary_invariants(&repo);
    let text = common::walk(&repo);
    // What the cache stores must come back identical.
    let dir = common::scratch_dir();
    cache::write(dir, &repo).expect("cache write");
    let back = cache::read(dir, "sha256:0", "fuzz", "fuzz")
        .expect("cache read")
        .expect("a cache file just written is usable");
    assert_eq!(back.len(), repo.len());
    assert_eq!(common::walk(&back), text, "cache round trip changed the repository");
});
