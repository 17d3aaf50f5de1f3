//! repomd.xml through `Repomd::parse`; on success, every entry is read.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strata_repodata::Repomd;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = Repomd::parse(data, "fuzz/repomd.xml") {
        for e in &r.entries {
            let _ = (e.mdtype.len(), e.href.len(), e.expected.size);
            let _ = (&e.expected.checksum_type, &e.expected.checksum);
            assert!(r.get(&e.mdtype).is_some());
        }
        let _ = r.revision;
    }
});
