//! Streaming parser for primary.xml: one pass, no DOM, every string interned.

use crate::error::{RepodataError, Result};
use crate::limits::TokenGuard;
use crate::repo::{DepRec, PkgRec, Repo};
use crate::strings::StrId;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use std::borrow::Cow;
use std::io::BufRead;
use strata_model::RelFlags;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Text {
    Name,
    Arch,
    Checksum,
    Sourcerpm,
    File,
}

/// A field being collected for the current package.
#[derive(Default)]
struct Current {
    rec: PkgRec,
    lists: [Vec<DepRec>; 4],
    files: Vec<StrId>,
    checksum_type: String,
    seen: bool,
}

fn utf8<'a>(path: &str, pos: u64, b: &'a [u8]) -> Result<&'a str> {
    std::str::from_utf8(b).map_err(|_| RepodataError::malformed(path, pos, "text is not UTF-8"))
}

/// Unescapes an attribute value or text only when it has an entity.
fn value<'a>(path: &str, pos: u64, raw: &'a [u8]) -> Result<Cow<'a, str>> {
    let s = utf8(path, pos, raw)?;
    if !s.contains('&') {
        return Ok(Cow::Borrowed(s));
    }
    quick_xml::escape::unescape(s)
        .map(|c| Cow::Owned(c.into_owned()))
        .map_err(|e| RepodataError::xml(path, pos, e))
}

/// Parses primary.xml from `input` into `repo` (which must be empty).
pub fn parse_primary(input: &mut dyn BufRead, path: &str, repo: &mut Repo) -> Result<()> {
    let mut reader = Reader::from_reader(TokenGuard::new(input));
    let mut parser = PrimaryParser::default();
    let end = crate::wellformed::each_event(&mut reader, path, |ev, pos, _| {
        parser.event(ev, pos, path, repo)
    })?;
    parser.finish(path, end)
}

/// The primary.xml parser as a consumer of XML events, so that one pass
/// over the file can feed it and the record store together.
#[derive(Default)]
pub(crate) struct PrimaryParser {
    cur: Current,
    in_package: bool,
    list: Option<usize>,
    text: Option<Text>,
    saw_root: bool,
    closed_root: bool,
}

impl PrimaryParser {
    /// Takes the next event; `pos` is where it starts in the file.
    #[inline]
    pub(crate) fn event(
        &mut self,
        ev: &Event<'_>,
        pos: u64,
        path: &str,
        repo: &mut Repo,
    ) -> Result<()> {
        let cur = &mut self.cur;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                let local = e.local_name();
                match local.as_ref() {
                    b"package" => {
                        if self.in_package {
                            return Err(invalid(path, pos, "<package> inside <package>"));
                        }
                        self.in_package = !empty;
                        // Reuse the lists' capacity from package to package.
                        cur.rec = PkgRec::default();
                        cur.lists.iter_mut().for_each(Vec::clear);
                        cur.files.clear();
                        cur.seen = true;
                    }
                    b"metadata" => {
                        self.saw_root = true;
                        if let Some(n) = attr(path, pos, e, b"packages")? {
                            if let Ok(n) = n.parse::<usize>() {
                                repo.packages.reserve(n.min(1 << 20));
                            }
                        }
                    }
                    _ if !self.in_package => {}
                    b"name" => self.text = Some(Text::Name),
                    b"arch" => self.text = Some(Text::Arch),
                    b"version" => {
                        for a in e.attributes().with_checks(false) {
                            let a = a.map_err(|err| RepodataError::xml(path, pos, err))?;
                            let v = value(path, pos, &a.value)?;
                            match a.key.as_ref() {
                                b"epoch" => cur.rec.epoch = repo.strings.intern(&v),
                                b"ver" => cur.rec.version = repo.strings.intern(&v),
                                b"rel" => cur.rec.release = repo.strings.intern(&v),
                                _ => {}
                            }
                        }
                    }
                    b"checksum" => {
                        cur.checksum_type = attr(path, pos, e, b"type")?.unwrap_or_default();
                        self.text = Some(Text::Checksum);
                    }
                    b"location" => {
                        let href = attr(path, pos, e, b"href")?.unwrap_or_default();
                        cur.rec.location = repo.strings.intern(&href);
                    }
                    b"sourcerpm" => self.text = Some(Text::Sourcerpm),
                    b"file" => self.text = Some(Text::File),
                    b"provides" => self.list = Some(0),
                    b"requires" => self.list = Some(1),
                    b"conflicts" => self.list = Some(2),
                    b"obsoletes" => self.list = Some(3),
                    b"entry" => {
                        if let Some(k) = self.list {
                            let dep = entry(path, pos, e, repo)?;
                            cur.lists[k].push(dep);
                        }
                    }
                    // Weak dependencies are not part of closure.
                    b"recommends" | b"suggests" | b"supplements" | b"enhances" => self.list = None,
                    _ => {}
                }
            }
            Event::Text(ref t) => {
                if let Some(which) = self.text {
                    let v = value(path, pos, t.as_ref())?;
                    let id = repo.strings.intern(v.trim());
                    match which {
                        Text::Name => cur.rec.name = id,
                        Text::Arch => cur.rec.arch = id,
                        Text::Sourcerpm => cur.rec.sourcerpm = id,
                        Text::File => cur.files.push(id),
                        Text::Checksum => {
                            let full = format!("{}:{}", cur.checksum_type, v.trim());
                            cur.rec.checksum = repo.strings.intern(&full);
                        }
                    }
                }
            }
            Event::End(ref e) => {
                self.text = None;
                match e.local_name().as_ref() {
                    b"provides" | b"requires" | b"conflicts" | b"obsoletes" | b"recommends"
                    | b"suggests" | b"supplements" | b"enhances" => self.list = None,
                    b"package" => {
                        self.in_package = false;
                        finish_package(path, pos, cur, repo)?;
                    }
                    b"metadata" => self.closed_root = true,
                    _ => {}
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the end of the file; `end` is its length.
    pub(crate) fn finish(&self, path: &str, end: u64) -> Result<()> {
        if self.in_package {
            return Err(invalid(path, end, "file ends inside a <package>"));
        }
        if !self.saw_root {
            return Err(invalid(path, 0, "no <metadata> element: not a primary.xml"));
        }
        if !self.closed_root {
            return Err(invalid(
                path,
                end,
                "the file ends before </metadata>: truncated?",
            ));
        }
        Ok(())
    }
}

fn invalid(path: &str, position: u64, reason: &str) -> RepodataError {
    RepodataError::malformed(path, position, reason)
}

fn attr(path: &str, pos: u64, e: &BytesStart<'_>, name: &[u8]) -> Result<Option<String>> {
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| RepodataError::xml(path, pos, err))?;
        if a.key.as_ref() == name {
            return Ok(Some(value(path, pos, &a.value)?.into_owned()));
        }
    }
    Ok(None)
}

fn entry(path: &str, pos: u64, e: &BytesStart<'_>, repo: &mut Repo) -> Result<DepRec> {
    let mut dep = DepRec::default();
    let mut has_name = false;
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(|err| RepodataError::xml(path, pos, err))?;
        let v = value(path, pos, &a.value)?;
        match a.key.as_ref() {
            b"name" => {
                dep.name = repo.strings.intern(&v);
                has_name = true;
            }
            b"flags" => {
                dep.flags = RelFlags::from_rpmmd(&v)
                    .ok_or_else(|| invalid(path, pos, &format!("unknown dependency flags `{v}`")))?
                    .0
            }
            b"epoch" => dep.epoch = repo.strings.intern(&v),
            b"ver" => dep.version = repo.strings.intern(&v),
            b"rel" => dep.release = repo.strings.intern(&v),
            b"pre" => dep.pre = u8::from(v.as_ref() == "1" || v.as_ref() == "true"),
            _ => {}
        }
    }
    if !has_name {
        return Err(invalid(path, pos, "<rpm:entry> without a name"));
    }
    Ok(dep)
}

fn finish_package(path: &str, pos: u64, cur: &mut Current, repo: &mut Repo) -> Result<()> {
    if !cur.seen {
        return Ok(());
    }
    if cur.rec.name == 0 || cur.rec.arch == 0 || cur.rec.version == 0 {
        return Err(invalid(
            path,
            pos,
            "<package> without name, arch or version",
        ));
    }
    let rec = &mut cur.rec;
    rec.deps_start = repo.deps.len() as u32;
    let mut end = 0u32;
    for (k, list) in cur.lists.iter_mut().enumerate() {
        end += list.len() as u32;
        rec.deps_ends[k] = end;
        repo.deps.append(list);
    }
    rec.files_start = repo.files.len() as u32;
    rec.files_len = cur.files.len() as u32;
    repo.files.append(&mut cur.files);
    repo.packages.push(*rec);
    cur.seen = false;
    Ok(())
}
