//! repomd.xml: the index of a repository's metadata files.

use crate::error::{RepodataError, Result};
use crate::http::HttpError;
use crate::limits::{Limit, REPOMD_MAX_BYTES};
use crate::source::{stream_error, Expected, Location};
use quick_xml::events::Event;
use quick_xml::Reader;
use std::io::Read;

/// One `<data type="...">` entry.
#[derive(Debug, Clone)]
pub struct RepomdEntry {
    pub mdtype: String,
    pub href: String,
    pub expected: Expected,
}

/// A `<data>` entry while it is read: type, href, checksum, size, open
/// size.
type PartialEntry = (
    String,
    Option<String>,
    Option<(String, String)>,
    Option<u64>,
    Option<u64>,
);

#[derive(Debug, Clone)]
pub struct Repomd {
    pub revision: Option<String>,
    pub entries: Vec<RepomdEntry>,
}

impl Repomd {
    pub fn get(&self, mdtype: &str) -> Option<&RepomdEntry> {
        self.entries.iter().find(|e| e.mdtype == mdtype)
    }

    /// Reads `repodata/repomd.xml` of `location`, at most
    /// [`REPOMD_MAX_BYTES`] of it.
    pub fn load(location: &Location) -> Result<Repomd> {
        let href = "repodata/repomd.xml";
        let path = location.display(href);
        let mut text = Vec::new();
        let read = location
            .open_bounded(href, REPOMD_MAX_BYTES, "REPOMD_MAX_BYTES")
            .and_then(|r| {
                r.take(REPOMD_MAX_BYTES + 1)
                    .read_to_end(&mut text)
                    .map_err(|e| stream_error(&path, &e))
            });
        let read = match read {
            Ok(_) if text.len() as u64 > REPOMD_MAX_BYTES => Err(RepodataError::TooLarge {
                path: path.clone(),
                limit: Limit::Repomd,
            }),
            // The body's own bound says the same, in its words.
            Err(RepodataError::Fetch {
                source: HttpError::TooLarge { .. },
                ..
            }) => Err(RepodataError::TooLarge {
                path: path.clone(),
                limit: Limit::Repomd,
            }),
            other => other.map(|_| ()),
        };
        match read {
            Ok(_) => {}
            Err(RepodataError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(RepodataError::NotARepo {
                    path: match location {
                        Location::Dir(d) => d.display().to_string(),
                        Location::Http(u) => strata_model::redact_credentials(u).into_owned(),
                    },
                })
            }
            Err(e) => return Err(e),
        }
        Self::parse(&text, &path)
    }

    pub fn parse(text: &[u8], path: &str) -> Result<Repomd> {
        let mut reader = Reader::from_reader(text);
        let xml_err = |reader: &Reader<&[u8]>, reason: String| {
            RepodataError::malformed(path, reader.buffer_position(), reason)
        };
        let mut entries = Vec::new();
        let mut revision = None;
        let mut current: Option<PartialEntry> = None;
        let mut field: Option<&'static str> = None;
        let mut pending_type: Option<String> = None;
        let mut saw_root = false;
        let mut closed_root = false;
        let mut wellformed = crate::wellformed::Wellformed::default();
        loop {
            let pos = reader.buffer_position();
            let ev = reader
                .read_event()
                .map_err(|e| RepodataError::xml(path, reader.buffer_position(), e))?;
            wellformed.event(&ev, pos, path)?;
            match ev {
                Event::Start(e) | Event::Empty(e) => {
                    let local = e.local_name();
                    match local.as_ref() {
                        b"repomd" => saw_root = true,
                        b"data" => {
                            let t = attr(&e, b"type", path, &reader)?.ok_or_else(|| {
                                xml_err(&reader, "<data> without a type attribute".into())
                            })?;
                            current = Some((t, None, None, None, None));
                        }
                        b"location" => {
                            if let Some(c) = current.as_mut() {
                                c.1 = attr(&e, b"href", path, &reader)?;
                            }
                        }
                        b"checksum" if current.is_some() => {
                            pending_type = attr(&e, b"type", path, &reader)?;
                            field = Some("checksum");
                        }
                        b"size" if current.is_some() => field = Some("size"),
                        b"open-size" if current.is_some() => field = Some("open-size"),
                        b"revision" if current.is_none() => field = Some("revision"),
                        _ => field = None,
                    }
                }
                Event::Text(t) => {
                    let Some(f) = field else { continue };
                    let text = t
                        .unescape()
                        .map_err(|e| RepodataError::xml(path, reader.buffer_position(), e))?
                        .trim()
                        .to_string();
                    match (f, current.as_mut()) {
                        ("checksum", Some(c)) => {
                            let kind = pending_type.take().unwrap_or_else(|| "sha256".into());
                            c.2 = Some((kind, text));
                        }
                        ("size", Some(c)) => {
                            c.3 = Some(text.parse().map_err(|_| {
                                xml_err(&reader, format!("size `{text}` is not a number"))
                            })?);
                        }
                        ("open-size", Some(c)) => {
                            c.4 = Some(text.parse().map_err(|_| {
                                xml_err(&reader, format!("open-size `{text}` is not a number"))
                            })?);
                        }
                        ("revision", None) => revision = Some(text),
                        _ => {}
                    }
                }
                Event::End(e) => {
                    field = None;
                    if e.local_name().as_ref() == b"repomd" {
                        closed_root = true;
                    }
                    if e.local_name().as_ref() == b"data" {
                        let Some((mdtype, href, checksum, size, open_size)) = current.take() else {
                            return Err(xml_err(&reader, "</data> without <data>".into()));
                        };
                        let href = href.ok_or_else(|| RepodataError::Invalid {
                            path: path.to_string(),
                            reason: format!("`{mdtype}` entry has no <location href>"),
                        })?;
                        let (checksum_type, checksum) =
                            checksum.ok_or_else(|| RepodataError::Invalid {
                                path: path.to_string(),
                                reason: format!("`{mdtype}` entry has no <checksum>"),
                            })?;
                        entries.push(RepomdEntry {
                            mdtype,
                            href,
                            expected: Expected {
                                checksum_type,
                                checksum,
                                size,
                                open_size,
                            },
                        });
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        if !saw_root {
            return Err(RepodataError::Invalid {
                path: path.to_string(),
                reason: "no <repomd> element".into(),
            });
        }
        if !closed_root || current.is_some() {
            return Err(xml_err(
                &reader,
                "the file ends before </repomd>: truncated?".into(),
            ));
        }
        Ok(Repomd { revision, entries })
    }
}

fn attr(
    e: &quick_xml::events::BytesStart<'_>,
    name: &[u8],
    path: &str,
    reader: &Reader<&[u8]>,
) -> Result<Option<String>> {
    for a in e.attributes() {
        let a = a.map_err(|err| RepodataError::xml(path, reader.buffer_position(), err))?;
        if a.key.local_name().as_ref() == name {
            let v = a
                .unescape_value()
                .map_err(|err| RepodataError::xml(path, reader.buffer_position(), err))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_createrepo_c_style() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">abc</checksum>
    <open-checksum type="sha256">def</open-checksum>
    <location href="repodata/abc-primary.xml.zst"/>
    <size>42</size>
    <open-size>100</open-size>
  </data>
</repomd>"#;
        let r = Repomd::parse(xml, "repomd.xml").unwrap();
        assert_eq!(r.revision.as_deref(), Some("1700000000"));
        let p = r.get("primary").unwrap();
        assert_eq!(p.href, "repodata/abc-primary.xml.zst");
        assert_eq!(p.expected.checksum, "abc");
        assert_eq!(p.expected.size, Some(42));
        assert_eq!(p.expected.open_size, Some(100));
    }

    #[test]
    fn errors_name_the_file() {
        let e = Repomd::parse(
            b"<repomd><data type='primary'><location href='x'/></data></repomd>",
            "r/repomd.xml",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("r/repomd.xml") && e.to_string().contains("checksum"),
            "{e}"
        );
        let e =
            Repomd::parse(b"<repomd><data type='primary'></repomd>", "r/repomd.xml").unwrap_err();
        assert!(
            e.to_string().contains("malformed XML in `r/repomd.xml`"),
            "{e}"
        );
    }
}
