//! What quick-xml lets through but repository metadata must not have.
//!
//! quick-xml is not a validating parser: it reports a DOCTYPE and moves on,
//! leaves entity references in text undecoded until asked, and reads on
//! after the root element closes. A compose copies the records of
//! primary, filelists and other.xml byte for byte into the metadata it
//! publishes, so anything passed over here ends up in a repository that
//! createrepo_c, dnf and libsolv cannot read (an entity whose declaration
//! stayed behind), or that was read differently here than there (a second
//! root element counted twice). createrepo_c never writes a DOCTYPE, an
//! entity of its own or a second root, so each of them is refused, with
//! the file and the byte offset.

use crate::error::{RepodataError, Result};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::io::BufRead;

/// A stream told where each XML token ends, so that it can bound one
/// token's size (`limits::TokenGuard`, and the record cutter's tee).
pub(crate) trait TokenStream: BufRead {
    fn mark(&mut self);
}

/// Reads the XML events of `reader` to the end of the file, each checked by
/// [`Wellformed`] and then handed to `each` with its byte position and the
/// stream; returns where the file ends. Every streaming reader of metadata
/// goes through here, so none reads an event unchecked.
#[inline]
pub(crate) fn each_event<R: TokenStream>(
    reader: &mut Reader<R>,
    path: &str,
    mut each: impl FnMut(&Event<'_>, u64, &mut R) -> Result<()>,
) -> Result<u64> {
    let mut wellformed = Wellformed::default();
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| RepodataError::xml(path, pos, e))?;
        reader.get_mut().mark();
        if matches!(ev, Event::Eof) {
            return Ok(reader.buffer_position());
        }
        wellformed.event(&ev, pos, path)?;
        each(&ev, pos, reader.get_mut())?;
    }
}

/// Watches the events of one metadata file, in order.
#[derive(Default)]
pub(crate) struct Wellformed {
    depth: u32,
    /// The root element has been closed: only comments, processing
    /// instructions and whitespace may follow.
    closed: bool,
    /// The first event has been seen (an XML declaration must be first).
    started: bool,
}

impl Wellformed {
    /// Checks the next event; `pos` is where it starts in the file.
    #[inline]
    pub(crate) fn event(&mut self, ev: &Event<'_>, pos: u64, path: &str) -> Result<()> {
        let first = !self.started;
        self.started = true;
        match ev {
            Event::Start(e) | Event::Empty(e) => {
                if self.closed {
                    return Err(malformed(
                        path,
                        pos,
                        format!(
                            "a second root element <{}> after the first one closed",
                            String::from_utf8_lossy(e.name().as_ref())
                        ),
                    ));
                }
                // Entity references can only be in attribute values here.
                if memchr::memchr(b'&', e).is_some() {
                    check_references(e, pos, path)?;
                }
                if matches!(ev, Event::Start(_)) {
                    self.depth += 1;
                } else if self.depth == 0 {
                    self.closed = true;
                }
            }
            Event::End(_) => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.closed = true;
                }
            }
            Event::Text(t) => {
                if self.depth == 0 {
                    if !t.iter().all(u8::is_ascii_whitespace) {
                        let where_ = if self.closed { "after" } else { "before" };
                        return Err(malformed(
                            path,
                            pos,
                            format!("text {where_} the root element"),
                        ));
                    }
                } else if memchr::memchr(b'&', t).is_some() {
                    check_references(t, pos, path)?;
                }
            }
            Event::CData(_) if self.depth == 0 => {
                return Err(malformed(
                    path,
                    pos,
                    "a CDATA section outside the root element",
                ));
            }
            Event::DocType(_) => {
                return Err(refuse(
                    path,
                    pos,
                    "a DOCTYPE (document type declaration): repository metadata has none, \
                     and its entities would not survive into the published metadata",
                ));
            }
            Event::Decl(_) if !first => {
                return Err(malformed(
                    path,
                    pos,
                    "an XML declaration that is not at the start of the file",
                ));
            }
            _ => {}
        }
        Ok(())
    }
}

/// Not well-formed XML.
fn malformed(path: &str, position: u64, reason: impl Into<String>) -> RepodataError {
    RepodataError::malformed(path, position, reason)
}

/// XML, but not what repository metadata may hold.
fn refuse(path: &str, position: u64, reason: impl Into<String>) -> RepodataError {
    RepodataError::Refused {
        path: path.to_string(),
        position,
        reason: reason.into(),
    }
}

/// Every `&` in `raw` must start one of XML's five predefined entities or
/// a character reference to a character XML allows.
fn check_references(raw: &[u8], pos: u64, path: &str) -> Result<()> {
    let mut at = 0;
    while let Some(i) = memchr::memchr(b'&', &raw[at..]) {
        let start = at + i;
        let rest = &raw[start + 1..];
        // Names and character references are short; a `;` further away
        // means this `&` starts no reference at all.
        let end = rest.iter().take(32).position(|&b| b == b';');
        let shown = |len: usize| String::from_utf8_lossy(&raw[start..start + len]).into_owned();
        let Some(end) = end else {
            return Err(malformed(
                path,
                pos,
                format!(
                    "`{}…`: a `&` that starts no entity or character reference",
                    shown(rest.len().min(16) + 1)
                ),
            ));
        };
        let name = &rest[..end];
        let ok = match name {
            b"amp" | b"lt" | b"gt" | b"quot" | b"apos" => true,
            [b'#', b'x', hex @ ..] => char_ref(hex, 16),
            [b'#', dec @ ..] => char_ref(dec, 10),
            _ => false,
        };
        if !ok {
            let what = if name.first() == Some(&b'#') {
                "a character reference to a character XML does not allow"
            } else {
                "an entity reference: only &amp; &lt; &gt; &quot; &apos; and character \
                 references are allowed in repository metadata"
            };
            return Err(refuse(path, pos, format!("`{}`: {what}", shown(end + 2))));
        }
        at = start + end + 2;
    }
    Ok(())
}

/// Whether the digits name a character XML 1.0 allows (its `Char`).
fn char_ref(digits: &[u8], radix: u32) -> bool {
    let Ok(s) = std::str::from_utf8(digits) else {
        return false;
    };
    if s.is_empty() || s.len() > 8 {
        return false;
    }
    let Ok(c) = u32::from_str_radix(s, radix) else {
        return false;
    };
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x1_0000..=0x10_FFFF)
}

#[cfg(test)]
mod test {
    use super::*;
    use quick_xml::Reader;

    fn check(xml: &str) -> Result<()> {
        let mut reader = Reader::from_str(xml);
        let mut w = Wellformed::default();
        loop {
            let pos = reader.buffer_position();
            let ev = reader.read_event().expect("quick-xml reads it");
            if matches!(ev, Event::Eof) {
                return Ok(());
            }
            w.event(&ev, pos, "primary.xml")?;
        }
    }

    fn reason(xml: &str) -> String {
        match check(xml).unwrap_err() {
            RepodataError::Malformed { path, reason, .. }
            | RepodataError::Refused { path, reason, .. } => {
                assert_eq!(path, "primary.xml");
                reason
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn what_createrepo_c_writes_passes() {
        check(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c -->\n<metadata packages=\"1\">\n\
             <package><description>a &amp; b &lt;c&gt; &quot;&apos; &#233; &#x1F600; &#10;</description>\
             <file name=\"x&amp;y\"/><![CDATA[&raw;]]></package>\n</metadata>\n<!-- after -->\n",
        )
        .unwrap();
        check("<metadata/>\n").unwrap();
        check("\u{feff}<?xml version=\"1.0\"?><metadata/>").unwrap();
    }

    #[test]
    fn dtds_and_entities_are_refused() {
        assert!(reason("<!DOCTYPE m [<!ENTITY a \"b\">]><m>&a;</m>").contains("DOCTYPE"));
        assert!(reason("<m>x &lol9; y</m>").contains("`&lol9;`: an entity reference"));
        assert!(reason("<m><e a=\"&ext;\"/></m>").contains("`&ext;`"));
        assert!(reason("<m>&#0;</m>").contains("`&#0;`: a character reference"));
        assert!(reason("<m>&#xD800;</m>").contains("character reference"));
        assert!(reason("<m>&#x110000;</m>").contains("character reference"));
        assert!(reason("<m>a & b</m>").contains("starts no entity"));
    }

    #[test]
    fn one_root_element_only() {
        assert!(reason("<m></m><m></m>").contains("a second root element <m>"));
        assert!(reason("<m/><m/>").contains("a second root element"));
        assert!(reason("<m></m>junk").contains("text after the root element"));
        assert!(reason("junk<m></m>").contains("text before the root element"));
        assert!(reason("<m></m><?xml version=\"1.0\"?>").contains("XML declaration"));
    }
}
