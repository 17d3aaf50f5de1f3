//! Cutting the raw `<package>` records out of primary, filelists and other
//! as they stream past the XML reader, byte for byte, with each record's
//! identity. The stream is checked as it goes: well-formed as `wellformed`
//! requires, no XML token past `MAX_XML_TOKEN_BYTES` and no record past
//! the bound the caller gives (`MAX_RECORD_BYTES` for real files), root
//! element and end of file present (a truncated file is refused, naming
//! where it ends).

use super::blocks::{Blocks, Sink};
use super::idents::{Idents, ARCH, EPOCH, FIELDS, NAME, PKGID, REL, VER};
use super::Kind;
use crate::error::{RepodataError, Result};
use crate::limits::{self, Limit, MAX_XML_TOKEN_BYTES};
use crate::wellformed::{each_event, TokenStream};
use crate::Repo;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::io::{self, BufRead, Read};

/// One metadata file cut into records: blocks in file order, identities.
pub(crate) struct Scanned {
    pub(super) blocks: Blocks,
    pub(super) idents: Idents,
}

/// Passes a stream to the XML reader and keeps a copy of what it consumed
/// since the last `clear`, so a record's bytes can be cut out exactly.
/// What it keeps is bounded by `MAX_RECORD_BYTES`, and one XML token by
/// `MAX_XML_TOKEN_BYTES` (see `limits::TokenGuard`).
struct Tee<'a> {
    inner: &'a mut dyn BufRead,
    kept: Vec<u8>,
    consumed: u64,
    /// Where the current token began.
    mark: u64,
    /// The longest record kept.
    max_record: u64,
}

impl<'a> Tee<'a> {
    fn new(inner: &'a mut dyn BufRead, max_record: u64) -> Self {
        Tee {
            inner,
            kept: Vec::with_capacity(1 << 16),
            consumed: 0,
            mark: 0,
            max_record,
        }
    }

    /// A token ended here.
    #[inline]
    fn mark(&mut self) {
        self.mark = self.consumed;
    }
}

impl TokenStream for Tee<'_> {
    #[inline]
    fn mark(&mut self) {
        Tee::mark(self);
    }
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::limits::read_buffered(self, buf)
    }
}

impl BufRead for Tee<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed - self.mark > MAX_XML_TOKEN_BYTES {
            return Err(limits::exceeded(Limit::Token { at: self.mark }));
        }
        if self.kept.len() as u64 > self.max_record {
            return Err(limits::exceeded(Limit::Record {
                at: self.consumed - self.kept.len() as u64,
            }));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.consumed += amt as u64;
        // The reader consumes only what a fill_buf just returned, so
        // asking again does no I/O.
        if let Ok(buf) = self.inner.fill_buf() {
            self.kept.extend_from_slice(&buf[..amt.min(buf.len())]);
        }
        self.inner.consume(amt);
    }
}

fn unescaped(path: &str, pos: u64, raw: &[u8], out: &mut String) -> Result<()> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| RepodataError::malformed(path, pos, "text is not UTF-8"))?;
    if s.contains('&') {
        let u = quick_xml::escape::unescape(s).map_err(|e| RepodataError::xml(path, pos, e))?;
        out.push_str(&u);
    } else {
        out.push_str(s);
    }
    Ok(())
}

/// Copies the attributes named in `wanted` (name, field) into `row`.
fn read_attrs(
    path: &str,
    pos: u64,
    e: &BytesStart<'_>,
    wanted: &[(&[u8], usize)],
    row: &mut [String; FIELDS],
) -> Result<()> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| RepodataError::xml(path, pos, err))?;
        if let Some(&(_, f)) = wanted.iter().find(|(k, _)| *k == a.key.as_ref()) {
            row[f].clear();
            unescaped(path, pos, &a.value, &mut row[f])?;
        }
    }
    Ok(())
}

const VERSION_ATTRS: &[(&[u8], usize)] = &[(b"epoch", EPOCH), (b"ver", VER), (b"rel", REL)];
const PACKAGE_ATTRS: &[(&[u8], usize)] = &[(b"pkgid", PKGID), (b"name", NAME), (b"arch", ARCH)];

/// Cuts one metadata file into records, none longer than `max_record`
/// bytes. For primary the identity comes from `<checksum>`, `<name>`,
/// `<arch>` and `<version>`; for filelists and other from the `<package>`
/// attributes and `<version>`.
pub(super) fn scan(
    input: &mut dyn BufRead,
    path: &str,
    kind: Kind,
    max_record: u64,
) -> Result<Scanned> {
    let mut reader = Reader::from_reader(Tee::new(input, max_record));
    let mut scanner = Scanner::new(kind, false);
    let end = each_event(&mut reader, path, |ev, pos, tee| {
        scanner.event(ev, pos, path, &mut tee.kept)
    })?;
    scanner.finish(path, end)
}

/// Primary.xml parsed into `repo` and cut into records in one pass: one
/// decompression and one tokenization feed both. Errors come as the two
/// separate passes would give them: the outer result is the parser's (it
/// would have failed first), the inner one the record cutter's.
pub(crate) fn parse_and_scan_primary(
    input: &mut dyn BufRead,
    path: &str,
    repo: &mut Repo,
    max_record: u64,
) -> Result<Result<Scanned>> {
    let mut reader = Reader::from_reader(Tee::new(input, max_record));
    let mut parser = crate::primary::PrimaryParser::default();
    let mut scanner = Scanner::new(Kind::Primary, true);
    let mut scan_error: Option<RepodataError> = None;
    let end = each_event(&mut reader, path, |ev, pos, tee| {
        parser.event(ev, pos, path, repo)?;
        if scan_error.is_none() {
            if let Err(e) = scanner.event(ev, pos, path, &mut tee.kept) {
                scan_error = Some(e);
            }
        }
        if scan_error.is_some() {
            // Only the parser still needs the stream.
            tee.kept.clear();
        }
        Ok(())
    })?;
    parser.finish(path, end)?;
    Ok(match scan_error {
        Some(e) => Err(e),
        None => scanner.finish(path, end),
    })
}

/// The record cutter as a consumer of XML events. `kept` holds the bytes
/// the XML reader consumed since the last record was taken.
struct Scanner {
    kind: Kind,
    blocks: Sink,
    idents: Idents,
    row: [String; FIELDS],
    depth: u32,
    in_package: bool,
    field: Option<usize>,
    saw_root: bool,
    closed_root: bool,
}

impl Scanner {
    /// `threaded`: compress on a thread of its own.
    fn new(kind: Kind, threaded: bool) -> Scanner {
        Scanner {
            kind,
            blocks: Sink::new(threaded, kind.block_packages()),
            idents: Idents::default(),
            row: Default::default(),
            depth: 0,
            in_package: false,
            field: None,
            saw_root: false,
            closed_root: false,
        }
    }

    #[inline]
    fn event(&mut self, ev: &Event<'_>, pos: u64, path: &str, kept: &mut Vec<u8>) -> Result<()> {
        let kind = self.kind;
        let row = &mut self.row;
        let (start, empty) = match ev {
            Event::Start(e) => (Some(e), false),
            Event::Empty(e) => (Some(e), true),
            _ => (None, false),
        };
        if let Some(e) = start {
            match self.depth {
                0 => {
                    if e.local_name().as_ref() != kind.root() {
                        return Err(RepodataError::Invalid {
                            path: path.to_string(),
                            reason: format!(
                                "the root element is <{}>, not <{}>: not a {}.xml",
                                String::from_utf8_lossy(e.name().as_ref()),
                                String::from_utf8_lossy(kind.root()),
                                kind.mdtype()
                            ),
                        });
                    }
                    self.saw_root = true;
                }
                1 if e.local_name().as_ref() == b"package" => {
                    // The start tag is `<`, its content, `>` (or `/>`).
                    let tag_len = e.len() + if empty { 3 } else { 2 };
                    let Some(at) = kept.len().checked_sub(tag_len) else {
                        return Err(RepodataError::malformed(
                            path,
                            pos,
                            "cannot locate <package> in the stream",
                        ));
                    };
                    if kept[at] != b'<' {
                        return Err(RepodataError::malformed(
                            path,
                            pos,
                            "cannot locate <package> in the stream",
                        ));
                    }
                    kept.drain(..at);
                    row.iter_mut().for_each(String::clear);
                    if kind != Kind::Primary {
                        read_attrs(path, pos, e, PACKAGE_ATTRS, row)?;
                    }
                    self.in_package = true;
                }
                2 if self.in_package => match e.local_name().as_ref() {
                    b"version" => read_attrs(path, pos, e, VERSION_ATTRS, row)?,
                    b"name" if kind == Kind::Primary => self.field = Some(NAME),
                    b"arch" if kind == Kind::Primary => self.field = Some(ARCH),
                    b"checksum" if kind == Kind::Primary => self.field = Some(PKGID),
                    _ => {}
                },
                _ => {}
            }
            if empty {
                self.field = None;
            } else {
                self.depth += 1;
            }
        }
        let package_ends = match ev {
            Event::Empty(e) => self.depth == 1 && e.local_name().as_ref() == b"package",
            Event::End(e) => {
                self.depth = self.depth.saturating_sub(1);
                self.field = None;
                if self.depth == 0 {
                    self.closed_root = true;
                }
                self.depth == 1 && e.local_name().as_ref() == b"package"
            }
            Event::Text(t) => {
                if let Some(f) = self.field {
                    unescaped(path, pos, t.as_ref(), &mut row[f])?;
                }
                false
            }
            Event::CData(t) => {
                if let Some(f) = self.field {
                    let text = std::str::from_utf8(t.as_ref())
                        .map_err(|_| RepodataError::malformed(path, pos, "text is not UTF-8"))?;
                    row[f].push_str(text);
                }
                false
            }
            _ => false,
        };
        if package_ends && self.in_package {
            self.in_package = false;
            if kind == Kind::Primary {
                for f in [PKGID, NAME, ARCH] {
                    if row[f].trim().len() != row[f].len() {
                        row[f] = row[f].trim().to_string();
                    }
                }
            }
            if row[PKGID].is_empty() || row[NAME].is_empty() {
                return Err(RepodataError::malformed(
                    path,
                    pos,
                    "<package> without a pkgid or a name",
                ));
            }
            if std::str::from_utf8(kept).is_err() {
                return Err(RepodataError::malformed(
                    path,
                    pos,
                    format!("the record of `{}` is not UTF-8", row[NAME]),
                ));
            }
            self.blocks.push(kept).map_err(|e| RepodataError::Io {
                path: path.to_string(),
                source: e,
            })?;
            kept.clear();
            self.idents.push(row);
        } else if !self.in_package && kept.len() > 1 {
            // Between records nothing is needed but the last byte, which
            // may be the `<` of the next tag (the XML reader takes it with
            // the text before it).
            kept.drain(..kept.len() - 1);
        }
        Ok(())
    }

    /// Checks the end of the file (`end` is its length) and closes the
    /// last block.
    fn finish(mut self, path: &str, end: u64) -> Result<Scanned> {
        let kind = self.kind;
        if self.in_package {
            return Err(RepodataError::malformed(
                path,
                end,
                "the file ends inside a <package>: truncated?",
            ));
        }
        if !self.saw_root {
            return Err(RepodataError::Invalid {
                path: path.to_string(),
                reason: format!("no <{}> element", String::from_utf8_lossy(kind.root())),
            });
        }
        if !self.closed_root {
            return Err(RepodataError::malformed(
                path,
                end,
                format!(
                    "the file ends before </{}>: truncated?",
                    String::from_utf8_lossy(kind.root())
                ),
            ));
        }
        let blocks = std::mem::replace(&mut self.blocks, Sink::Here(Blocks::new(0)))
            .finish()
            .map_err(|e| RepodataError::Io {
                path: path.to_string(),
                source: e,
            })?;
        Ok(Scanned {
            blocks,
            idents: std::mem::take(&mut self.idents),
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn scan_str(xml: &str, kind: Kind) -> Result<Scanned> {
        let mut input = io::BufReader::with_capacity(7, xml.as_bytes());
        scan(&mut input, "t.xml", kind, crate::limits::MAX_RECORD_BYTES)
    }

    fn records(s: &Scanned) -> Vec<String> {
        let b = &s.blocks;
        let open: Vec<Vec<u8>> = b
            .entries
            .iter()
            .map(|e| {
                let comp =
                    &b.region[e.offset as usize..(e.offset + u64::from(e.comp_len)) as usize];
                zstd::bulk::decompress(comp, e.open_len as usize).unwrap()
            })
            .collect();
        b.recs
            .iter()
            .map(|r| {
                String::from_utf8(
                    open[r.block as usize][r.start as usize..(r.start + r.len) as usize].to_vec(),
                )
                .unwrap()
            })
            .collect()
    }

    pub(crate) const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>a&amp;b</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1" rel="1"/>
  <checksum type="sha256" pkgid="YES">aa11</checksum>
  <description>x &lt; y</description>
  <format>
    <rpm:provides>
      <rpm:entry name="a" flags="EQ" epoch="0" ver="1" rel="1"/>
    </rpm:provides>
  </format>
</package>
<package type="rpm"><name>c</name><arch>x86_64</arch><version epoch="2" ver="3" rel="4"/><checksum type="sha256" pkgid="YES">bb22</checksum></package>
</metadata>"#;

    #[test]
    fn cuts_primary_records_byte_for_byte() {
        let s = scan_str(PRIMARY, Kind::Primary).unwrap();
        let recs = records(&s);
        assert_eq!(recs.len(), 2);
        let first_start = PRIMARY.find("<package type").unwrap();
        let first_end = PRIMARY.find("</package>").unwrap() + "</package>".len();
        assert_eq!(recs[0], &PRIMARY[first_start..first_end]);
        assert!(recs[1].starts_with("<package type=\"rpm\"><name>c</name>"));
        assert!(recs[1].ends_with("</checksum></package>"));
        assert_eq!(s.idents.field(0, NAME), "a&b");
        assert_eq!(s.idents.field(0, PKGID), "aa11");
        assert_eq!(s.idents.nevra(1), "c-2:3-4.x86_64");
    }

    #[test]
    fn truncated_primary_is_an_error_naming_the_file() {
        let cut = &PRIMARY[..PRIMARY.len() - "</metadata>".len()];
        let e = scan_str(cut, Kind::Primary).err().unwrap().to_string();
        assert!(e.contains("t.xml") && e.contains("truncated"), "{e}");
        let cut = &PRIMARY[..PRIMARY.find("<format>").unwrap()];
        let e = scan_str(cut, Kind::Primary).err().unwrap().to_string();
        assert!(e.contains("t.xml") && e.contains("truncated"), "{e}");
        let e = scan_str(PRIMARY, Kind::Filelists)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("not a filelists.xml"), "{e}");
    }

    #[test]
    fn a_record_longer_than_the_limit_is_refused_without_keeping_it() {
        let head = "<filelists packages=\"1\">\n<package pkgid=\"aa\" name=\"a\" arch=\"x\">\
                    <version epoch=\"0\" ver=\"1\" rel=\"1\"/>";
        let files = "<file>/usr/share/x</file>".repeat(1000);
        let xml = format!("{head}{files}</package></filelists>");
        // The whole record fits: cut as usual.
        let mut input = io::BufReader::with_capacity(64, xml.as_bytes());
        let s = scan(&mut input, "fl.xml", Kind::Filelists, xml.len() as u64).unwrap();
        assert_eq!(records(&s).len(), 1);
        // It does not: refused, naming where it starts.
        let mut input = io::BufReader::with_capacity(64, xml.as_bytes());
        let e = scan(&mut input, "fl.xml", Kind::Filelists, 4096)
            .err()
            .unwrap();
        let at = head.find("<package").unwrap();
        assert!(
            matches!(&e, RepodataError::TooLarge { limit: Limit::Record { at: a }, .. } if *a == at as u64),
            "{e:?}"
        );
        assert!(
            e.to_string()
                .starts_with("`fl.xml` is too large: it holds one <package> record"),
            "{e}"
        );
        // What lies between records is not kept: however much of it
        // there is, it is no record.
        let gap = format!("{}<!---->", " ".repeat(3000)).repeat(10);
        let xml = format!("{head}</package>{gap}</filelists>");
        let mut input = io::BufReader::with_capacity(64, xml.as_bytes());
        assert!(scan(&mut input, "fl.xml", Kind::Filelists, 4096).is_ok());
    }
}
