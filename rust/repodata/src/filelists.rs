//! filelists.xml, read on demand: only the paths someone asked about are
//! kept, so a 400 MB file list costs one streaming pass and little memory.

use crate::error::Result;
use crate::limits::TokenGuard;
use quick_xml::events::Event;
use quick_xml::Reader;
use rustc_hash::FxHashSet;
use std::io::BufRead;

/// `(pkgid, path)` for every listed file whose path is in `wanted`.
pub(crate) fn scan_filelists(
    input: &mut dyn BufRead,
    path: &str,
    wanted: &FxHashSet<&str>,
) -> Result<Vec<(String, String)>> {
    let mut reader = Reader::from_reader(TokenGuard::new(input));
    let mut pkgid = String::new();
    let mut in_file = false;
    let mut hits = Vec::new();
    crate::wellformed::each_event(&mut reader, path, |ev, _, _| {
        match ev {
            Event::Start(e) => match e.local_name().as_ref() {
                b"package" => {
                    pkgid.clear();
                    for a in e.attributes().with_checks(false).flatten() {
                        if a.key.as_ref() == b"pkgid" {
                            pkgid.push_str(&String::from_utf8_lossy(&a.value));
                        }
                    }
                }
                b"file" => in_file = true,
                _ => {}
            },
            Event::Text(t) if in_file => {
                let raw = std::str::from_utf8(t.as_ref()).unwrap_or("");
                let file = if raw.contains('&') {
                    quick_xml::escape::unescape(raw).unwrap_or_default()
                } else {
                    std::borrow::Cow::Borrowed(raw)
                };
                if wanted.contains(file.as_ref()) {
                    hits.push((pkgid.clone(), file.into_owned()));
                }
            }
            Event::End(_) => in_file = false,
            _ => {}
        }
        Ok(())
    })?;
    Ok(hits)
}
