//! Writing rpm-md repodata from raw package records, as createrepo_c lays it
//! out: `<sha256>-primary.xml.gz`, `-filelists.xml.gz`, `-other.xml.gz`,
//! extra metadata such as `modules.yaml`, and `repomd.xml` indexing them.
//!
//! Output is deterministic: the same records and options give the same
//! bytes (no mtime or file name in gzip headers, timestamps from the
//! options). Each file is compressed while it is written, and both the
//! open and the compressed stream are hashed on the way.

use crate::error::{RepodataError, Result};
use crate::pgzip::ParallelGz;
use crate::records::PackageRecords;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// How metadata files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    #[default]
    Gz,
    Zstd,
    Xz,
}

impl Compression {
    pub fn suffix(self) -> &'static str {
        match self {
            Compression::Gz => ".gz",
            Compression::Zstd => ".zst",
            Compression::Xz => ".xz",
        }
    }
}

/// How repodata is written.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    pub compression: Compression,
    /// `<revision>` of repomd.xml; empty means the timestamp, as
    /// createrepo_c does.
    pub revision: String,
    /// `<timestamp>` of every `<data>` entry (seconds since the epoch).
    pub timestamp: i64,
}

/// A metadata file besides primary, filelists and other, such as modules.
#[derive(Debug, Clone)]
pub struct ExtraMetadata {
    /// repomd.xml's `<data type>`, e.g. `modules`.
    pub mdtype: String,
    /// The file name before the checksum and compression suffix, e.g.
    /// `modules.yaml`.
    pub file_stem: String,
    /// The open (uncompressed) content.
    pub content: Vec<u8>,
}

/// One file listed in repomd.xml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenFile {
    pub mdtype: String,
    /// Relative to the repository: `repodata/<sha256>-primary.xml.gz`.
    pub href: String,
    pub path: PathBuf,
    /// sha256 of the compressed file.
    pub checksum: String,
    /// sha256 of the open content.
    pub open_checksum: String,
    pub size: u64,
    pub open_size: u64,
}

/// What `write_repodata` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenRepodata {
    pub repomd: PathBuf,
    /// sha256 of repomd.xml.
    pub repomd_checksum: String,
    /// In repomd.xml's order: primary, filelists, other, then the extras.
    pub files: Vec<WrittenFile>,
}

impl WrittenRepodata {
    pub fn get(&self, mdtype: &str) -> Option<&WrittenFile> {
        self.files.iter().find(|f| f.mdtype == mdtype)
    }
}

/// The `<name>` of a record, for messages.
fn record_name(record: &str) -> String {
    record
        .split_once("<name>")
        .and_then(|(_, rest)| rest.split_once("</name>"))
        .map_or_else(|| "?".to_string(), |(name, _)| name.trim().to_string())
}

/// Finds a direct child element of a record's `<package>`: its byte range
/// (the whole element) and its start tag.
fn child<'a>(
    record: &'a str,
    local: &[u8],
) -> std::result::Result<Option<(usize, usize, BytesStart<'a>)>, quick_xml::Error> {
    let mut reader = Reader::from_str(record);
    let mut depth = 0u32;
    let mut found: Option<(usize, BytesStart<'a>)> = None;
    loop {
        let ev = reader.read_event()?;
        let end = reader.buffer_position() as usize;
        match ev {
            Event::Start(e) => {
                if depth == 1 && found.is_none() && e.local_name().as_ref() == local {
                    found = Some((end - e.len() - 2, e));
                }
                depth += 1;
            }
            Event::Empty(e) if depth == 1 && e.local_name().as_ref() == local => {
                return Ok(Some((end - e.len() - 3, end, e)));
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    if let Some((start, e)) = found.take() {
                        return Ok(Some((start, end, e)));
                    }
                }
            }
            Event::Eof => return Ok(None),
            _ => {}
        }
    }
}

/// The record with its `<location>` replaced by `<location href="HREF"/>`
/// (dropping `xml:base`), the href escaped.
pub fn rewrite_location(primary_record: &str, href: &str) -> Result<String> {
    let bad = |reason: String| RepodataError::BadRecord {
        package: record_name(primary_record),
        reason,
    };
    if href.is_empty() || href.chars().any(char::is_control) {
        return Err(bad(format!(
            "the new location {href:?} is empty or has control characters"
        )));
    }
    let Some((start, end, _)) =
        child(primary_record, b"location").map_err(|source| RepodataError::RecordXml {
            package: record_name(primary_record),
            source,
        })?
    else {
        return Err(bad("it has no <location>".into()));
    };
    if primary_record.as_bytes().get(start) != Some(&b'<') {
        return Err(bad("cannot locate <location> in the record".into()));
    }
    let href = escape_attr(href);
    let mut out = String::with_capacity(primary_record.len() + href.len());
    out.push_str(&primary_record[..start]);
    out.push_str("<location href=\"");
    out.push_str(&href);
    out.push_str("\"/>");
    out.push_str(&primary_record[end..]);
    Ok(out)
}

/// `<size package=…>` of a primary record: the size of the RPM in bytes.
pub fn package_size(primary_record: &str) -> Option<u64> {
    let (_, _, e) = child(primary_record, b"size").ok()??;
    let a = e.try_get_attribute("package").ok()??;
    std::str::from_utf8(&a.value).ok()?.trim().parse().ok()
}

/// Passes bytes through while hashing and counting them.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Hashing<W> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Level 4: on primary.xml a third faster than zlib's default 6 for files
/// ~6% larger (measured on 5,000 bookworm packages).
const GZ_LEVEL: u32 = 4;

/// From this much open text on, a gzip file is compressed on several
/// threads by [`ParallelGz`] (at least 4 of its 1 MiB blocks; below, the
/// threads would have too little to share).
const PARALLEL_GZ_BYTES: usize = 4 * crate::pgzip::BLOCK;

/// Threads for one large gzip file: primary is written beside filelists
/// and other, so more than a few would only queue.
fn gz_threads() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get().min(4))
}

/// The parallel writer of a large gzip file or kept run, at [`GZ_LEVEL`].
fn parallel_gz<W: Write>(w: W, threads: usize) -> io::Result<ParallelGz<W>> {
    ParallelGz::new(w, flate2::Compression::new(GZ_LEVEL), threads)
}

enum Encoder<W: Write> {
    Gz(flate2::write::GzEncoder<W>),
    /// pigz's way: blocks compressed side by side into one gzip member,
    /// the same bytes whatever the number of threads.
    ParallelGz(ParallelGz<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Xz(xz2::write::XzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// `parallel`: a large file, worth compressing on several threads.
    fn new(compression: Compression, w: W, parallel: bool) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::Gz if parallel => Encoder::ParallelGz(parallel_gz(w, gz_threads())?),
            Compression::Gz => Encoder::Gz(gz_writer(w)),
            Compression::Zstd => {
                let mut e = zstd::stream::write::Encoder::new(w, 10)?;
                e.include_checksum(true)?;
                Encoder::Zstd(e)
            }
            Compression::Xz => Encoder::Xz(xz2::write::XzEncoder::new(w, 6)),
        })
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Gz(e) => e.finish(),
            Encoder::ParallelGz(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
            Encoder::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Gz(e) => e.write(buf),
            Encoder::ParallelGz(e) => e.write(buf),
            Encoder::Zstd(e) => e.write(buf),
            Encoder::Xz(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Gz(e) => e.flush(),
            // Never ends a block (blocks fall where the content alone puts
            // them): only flushes what is already deflated.
            Encoder::ParallelGz(e) => e.flush(),
            Encoder::Zstd(e) => e.flush(),
            Encoder::Xz(e) => e.flush(),
        }
    }
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> RepodataError {
    let path = path.to_path_buf();
    move |source| RepodataError::Write { path, source }
}

/// Ends a metadata file written to `part`: flushes it and renames it to
/// `<checksum>-<name>`, its checksum being that of what `raw` wrote.
fn seal(
    dir: &Path,
    part: &Path,
    raw: Hashing<BufWriter<File>>,
    mdtype: &str,
    name: &str,
    open_checksum: String,
    open_size: u64,
) -> Result<WrittenFile> {
    let (buffered, checksum, size) = raw.finish();
    buffered
        .into_inner()
        .map_err(|e| e.into_error())
        .map_err(write_err(part))?;
    let name = format!("{checksum}-{name}");
    let path = dir.join(&name);
    std::fs::rename(part, &path).map_err(write_err(&path))?;
    Ok(WrittenFile {
        mdtype: mdtype.to_string(),
        href: format!("repodata/{name}"),
        path,
        checksum,
        open_checksum,
        size,
        open_size,
    })
}

/// Writes one compressed metadata file named by its checksum.
fn write_file(
    dir: &Path,
    mdtype: &str,
    stem: &str,
    compression: Compression,
    parallel: bool,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<WrittenFile> {
    let name = format!("{stem}{}", compression.suffix());
    let part = dir.join(format!(".{name}.part"));
    let file = File::create(&part).map_err(write_err(&part))?;
    let raw = Hashing::new(BufWriter::with_capacity(1 << 18, file));
    let mut open =
        Hashing::new(Encoder::new(compression, raw, parallel).map_err(write_err(&part))?);
    fill(&mut open).map_err(write_err(&part))?;
    let (encoder, open_checksum, open_size) = open.finish();
    let raw = encoder.finish().map_err(write_err(&part))?;
    seal(dir, &part, raw, mdtype, &name, open_checksum, open_size)
}

/// The text of one of primary, filelists, other around its records: type,
/// file stem, what comes before the records and what after.
fn frame(
    packages: &[PackageRecords],
    which: usize,
) -> (&'static str, &'static str, String, String) {
    let n = packages.len();
    let (mdtype, stem, head, root) = match which {
        0 => (
            "primary",
            "primary.xml",
            format!("<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{n}\">\n"),
            "metadata",
        ),
        1 => (
            "filelists",
            "filelists.xml",
            format!("<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{n}\">\n"),
            "filelists",
        ),
        _ => (
            "other",
            "other.xml",
            format!("<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" packages=\"{n}\">\n"),
            "otherdata",
        ),
    };
    (
        mdtype,
        stem,
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{head}"),
        format!("</{root}>"),
    )
}

fn record(p: &PackageRecords, which: usize) -> &str {
    match which {
        0 => &p.primary,
        1 => &p.filelists,
        _ => &p.other,
    }
}

/// The open text of records `range` (each followed by a newline, as
/// createrepo_c writes them), with `head` before and `tail` after.
fn pieces<'a>(
    packages: &'a [PackageRecords],
    which: usize,
    head: &'a str,
    tail: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    std::iter::once(head.as_bytes())
        .chain(
            packages
                .iter()
                .flat_map(move |p| [record(p, which).as_bytes(), b"\n"]),
        )
        .chain(std::iter::once(tail.as_bytes()))
}

/// Writes one of primary, filelists, other: root element, records in the
/// order given, each followed by a newline, as createrepo_c does.
fn write_records(
    dir: &Path,
    packages: &[PackageRecords],
    which: usize,
    compression: Compression,
) -> Result<WrittenFile> {
    let (mdtype, stem, head, tail) = frame(packages, which);
    let open_len: usize = packages.iter().map(|p| record(p, which).len() + 1).sum();
    let parallel = open_len >= PARALLEL_GZ_BYTES;
    write_file(dir, mdtype, stem, compression, parallel, |w| {
        for piece in pieces(packages, which, &head, &tail) {
            w.write_all(piece)?;
        }
        Ok(())
    })
}

/// Escapes an attribute value as createrepo_c (libxml2) writes it.
pub(crate) fn escape_attr(s: &str) -> std::borrow::Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\n' | b'\r' | b'\t'))
    {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Escapes element text.
fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn repomd_xml(files: &[WrittenFile], opts: &WriteOptions) -> String {
    let revision = if opts.revision.is_empty() {
        opts.timestamp.to_string()
    } else {
        opts.revision.clone()
    };
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    x.push_str(&format!(
        "  <revision>{}</revision>\n",
        escape_text(&revision)
    ));
    for f in files {
        x.push_str(&format!(
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    <timestamp>{}</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            escape_attr(&f.mdtype),
            f.checksum,
            f.open_checksum,
            escape_attr(&f.href),
            opts.timestamp,
            f.size,
            f.open_size
        ));
    }
    x.push_str("</repomd>\n");
    x
}

/// Checks what `write_repodata` is given before anything is written.
fn check_input(
    repodata: &Path,
    packages: &[PackageRecords],
    extra: &[ExtraMetadata],
) -> Result<()> {
    let fail = |reason: String| RepodataError::WriteInput {
        path: repodata.to_path_buf(),
        reason,
    };
    for (i, p) in packages.iter().enumerate() {
        for (what, rec) in [
            ("primary", &p.primary),
            ("filelists", &p.filelists),
            ("other", &p.other),
        ] {
            if !rec.starts_with("<package") || !rec.ends_with('>') {
                return Err(fail(format!(
                    "the {what} record of package {i} (`{}`) is not a <package> element",
                    record_name(&p.primary)
                )));
            }
        }
    }
    let mut seen = vec!["primary", "filelists", "other"];
    for x in extra {
        let valid_type = !x.mdtype.is_empty()
            && x.mdtype
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_type {
            return Err(fail(format!("`{}` is not a metadata type", x.mdtype)));
        }
        if seen.contains(&x.mdtype.as_str()) {
            return Err(fail(format!("metadata type `{}` given twice", x.mdtype)));
        }
        seen.push(&x.mdtype);
        let valid_stem = !x.file_stem.is_empty()
            && !["primary.xml", "filelists.xml", "other.xml"].contains(&x.file_stem.as_str())
            && !x.file_stem.starts_with('.')
            && !x.file_stem.contains(['/', '\\'])
            && !x.file_stem.chars().any(char::is_control);
        if !valid_stem {
            return Err(fail(format!(
                "`{}` is not a file name for `{}` metadata",
                x.file_stem, x.mdtype
            )));
        }
    }
    Ok(())
}

/// Writes `repo_dir/repodata/`: primary, filelists and other from
/// `packages` (primary records already relocated), the `extra` files, and
/// repomd.xml. Files are not written atomically one by one: write into a
/// staging directory and rename it into place.
pub fn write_repodata(
    repo_dir: &Path,
    packages: &[PackageRecords],
    extra: &[ExtraMetadata],
    opts: &WriteOptions,
) -> Result<WrittenRepodata> {
    let c = opts.compression;
    write_with(repo_dir, packages, extra, opts, |dir, which| {
        write_records(dir, packages, which, c)
    })
}

/// Writes `repo_dir/repodata/` with `records(dir, which)` writing each of
/// primary (0), filelists (1) and other (2), then the extras and
/// repomd.xml.
fn write_with(
    repo_dir: &Path,
    packages: &[PackageRecords],
    extra: &[ExtraMetadata],
    opts: &WriteOptions,
    records: impl Fn(&Path, usize) -> Result<WrittenFile> + Sync,
) -> Result<WrittenRepodata> {
    let dir = repo_dir.join("repodata");
    check_input(&dir, packages, extra)?;
    std::fs::create_dir_all(&dir).map_err(|source| RepodataError::Write {
        path: dir.clone(),
        source,
    })?;
    // Primary is the largest; filelists and other are written alongside
    // (and a large file is compressed on several threads).
    let (primary, rest) = std::thread::scope(|s| {
        let side =
            s.spawn(|| -> Result<[WrittenFile; 2]> { Ok([records(&dir, 1)?, records(&dir, 2)?]) });
        let primary = records(&dir, 0);
        (primary, side.join().expect("writer thread panicked"))
    });
    let mut files = vec![primary?];
    files.extend(rest?);
    for x in extra {
        let parallel = x.content.len() >= PARALLEL_GZ_BYTES;
        files.push(write_file(
            &dir,
            &x.mdtype,
            &x.file_stem,
            opts.compression,
            parallel,
            |w| w.write_all(&x.content),
        )?);
    }
    let xml = repomd_xml(&files, opts);
    let repomd = dir.join("repomd.xml");
    std::fs::write(&repomd, xml.as_bytes()).map_err(|source| RepodataError::Write {
        path: repomd.clone(),
        source,
    })?;
    Ok(WrittenRepodata {
        repomd,
        repomd_checksum: hex::encode(Sha256::digest(xml.as_bytes())),
        files,
    })
}

/// A run of the records given to [`write_repodata_parts`]: one input of a
/// merged repository, and where the compressed text of that run is kept
/// between writes, if anywhere.
#[derive(Debug, Clone)]
pub struct RecordsPart {
    /// `packages[range]`.
    pub range: std::ops::Range<usize>,
    /// A cache directory and the run's key there: what never changes under
    /// that key (a finished compose's ID and arch).
    pub keep: Option<(PathBuf, String)>,
}

/// [`write_repodata`] for records that come in runs, most of them written
/// before: a whole-stack repository is its module plus every compose
/// below it, and each of those composes' records are the same in every
/// stack above it. primary, filelists and other are gzip files of several
/// members (RFC 1952 allows it; zlib, librepo and libsolv read them as
/// one): a member for the root element's start, one per run, one for its
/// end. A run's member is taken from where [`RecordsPart::keep`] says,
/// when the member kept there holds exactly this run's text (its length,
/// CRC-32 and the SHA-256 of its bytes are checked), else compressed and
/// kept. So a stack's repository costs compressing its own module's
/// records, not the whole stack's. The open text, the open checksum and
/// size are those [`write_repodata`] writes; only the compressed bytes
/// differ. Other compressions, and runs that do not cover the records in
/// order, are written by [`write_repodata`].
pub fn write_repodata_parts(
    repo_dir: &Path,
    packages: &[PackageRecords],
    parts: &[RecordsPart],
    extra: &[ExtraMetadata],
    opts: &WriteOptions,
) -> Result<WrittenRepodata> {
    let tiled = parts.first().is_none_or(|p| p.range.start == 0)
        && parts.windows(2).all(|w| w[0].range.end == w[1].range.start)
        && parts
            .last()
            .map_or(packages.is_empty(), |p| p.range.end == packages.len());
    if opts.compression != Compression::Gz || !tiled {
        return write_repodata(repo_dir, packages, extra, opts);
    }
    write_with(repo_dir, packages, extra, opts, |dir, which| {
        write_records_parts(dir, packages, parts, which)
    })
}

/// A gzip writer of one member: no mtime or file name, so the output
/// depends only on the content.
fn gz_writer<W: Write>(w: W) -> flate2::write::GzEncoder<W> {
    flate2::GzBuilder::new()
        .operating_system(3)
        .write(w, flate2::Compression::new(GZ_LEVEL))
}

/// One gzip member of `open`, as [`Encoder`] writes a small file.
fn gz_member(open: &[u8]) -> io::Result<Vec<u8>> {
    let mut e = gz_writer(Vec::new());
    e.write_all(open)?;
    e.finish()
}

/// Writes one of primary, filelists, other from [`RecordsPart`]s.
fn write_records_parts(
    dir: &Path,
    packages: &[PackageRecords],
    parts: &[RecordsPart],
    which: usize,
) -> Result<WrittenFile> {
    let (mdtype, stem, head, tail) = frame(packages, which);
    let name = format!("{stem}{}", Compression::Gz.suffix());
    let part = dir.join(format!(".{name}.part"));
    let file = File::create(&part).map_err(write_err(&part))?;
    let mut raw = Hashing::new(BufWriter::with_capacity(1 << 18, file));
    let mut open = Sha256::new();
    let mut open_size = head.len() as u64 + tail.len() as u64;
    open.update(head.as_bytes());
    let framing = |text: &str| gz_member(text.as_bytes()).map_err(write_err(&part));
    raw.write_all(&framing(&head)?).map_err(write_err(&part))?;
    for run in parts {
        let records = &packages[run.range.clone()];
        let mut crc = flate2::Crc::new();
        let mut len = 0u64;
        for text in records
            .iter()
            .flat_map(|p| [record(p, which).as_bytes(), b"\n"])
        {
            open.update(text);
            crc.update(text);
            len += text.len() as u64;
        }
        open_size += len;
        let kept = run
            .keep
            .as_ref()
            .map(|(cache, key)| kept_member_path(cache, key, which));
        if let Some(member) = kept
            .as_deref()
            .and_then(|p| read_kept_member(p, crc.sum(), len))
        {
            raw.write_all(&member).map_err(write_err(&part))?;
            continue;
        }
        // A large run (a base compose's) on several threads, as a large
        // file in one piece.
        let parallel = len >= PARALLEL_GZ_BYTES as u64;
        let mut e =
            Encoder::new(Compression::Gz, Vec::new(), parallel).map_err(write_err(&part))?;
        for text in records
            .iter()
            .flat_map(|p| [record(p, which).as_bytes(), b"\n"])
        {
            e.write_all(text).map_err(write_err(&part))?;
        }
        let member = e.finish().map_err(write_err(&part))?;
        raw.write_all(&member).map_err(write_err(&part))?;
        if let Some(path) = &kept {
            keep_member(path, &member, crc.sum(), len);
        }
    }
    open.update(tail.as_bytes());
    raw.write_all(&framing(&tail)?).map_err(write_err(&part))?;
    let open_checksum = hex::encode(open.finalize());
    seal(dir, &part, raw, mdtype, &name, open_checksum, open_size)
}

/// What starts a kept member's file: then the SHA-256 of the member, the
/// CRC-32 and length of its open text, the member. The version names the
/// encoder: a member the encoder of another version wrote holds the same
/// text in other bytes, and reusing it would change a merged file's
/// checksum against a cold write (2: large runs by [`ParallelGz`]).
const KEPT_MAGIC: &[u8; 16] = b"strata-gzpart-2\n";
const KEPT_HEAD: usize = 16 + 32 + 4 + 8;
/// The largest kept member read back (a module's filelists run far below).
const KEPT_MAX: u64 = 1 << 30;

/// Where the member of run `key` of `which` file is kept in `cache`: a
/// cache entry (`gzpart-….strata`), pruned with the others.
pub(crate) fn kept_member_path(cache: &Path, key: &str, which: usize) -> PathBuf {
    let digest = hex::encode(Sha256::digest(key.as_bytes()));
    cache.join(format!("gzpart-{}-{which}.strata", &digest[..40]))
}

/// The member kept at `path`, when it holds open text of CRC-32 `crc` and
/// length `len` and its bytes are those that were kept; `None` otherwise
/// (missing, another run's, damaged: compressed again).
fn read_kept_member(path: &Path, crc: u32, len: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    if !meta.is_file() || meta.len() > KEPT_MAX || meta.len() < KEPT_HEAD as u64 {
        return None;
    }
    let mut head = [0u8; KEPT_HEAD];
    (&file).read_exact(&mut head).ok()?;
    let mut member = Vec::with_capacity(meta.len() as usize - KEPT_HEAD);
    (&file).take(KEPT_MAX).read_to_end(&mut member).ok()?;
    let ok = &head[..16] == KEPT_MAGIC
        && head[16..48] == Sha256::digest(&member)[..]
        && head[48..52] == crc.to_le_bytes()
        && head[52..60] == len.to_le_bytes();
    if !ok {
        tracing::debug!(path = %path.display(), "kept gzip member does not match: compressed again");
        return None;
    }
    // Used: the cache's least recently used go first.
    crate::cache_file::touch(&file, &meta);
    Some(member)
}

/// Keeps `member` at `path` for the next write (written aside and renamed
/// into place, as every cache entry; a failure is only logged: the cache
/// is an optimisation).
fn keep_member(path: &Path, member: &[u8], crc: u32, len: u64) {
    let written = crate::cache_file::write_aside(path, |out| {
        out.write_all(KEPT_MAGIC)?;
        out.write_all(&Sha256::digest(member))?;
        out.write_all(&crc.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(member)
    });
    if let Err(e) = written {
        tracing::warn!(path = %path.display(), "cannot keep a gzip member for the next write: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REC: &str = r#"<package type="rpm">
  <name>foo</name>
  <arch>noarch</arch>
  <version epoch="0" ver="1" rel="1"/>
  <size package="5541" installed="0" archive="124"/>
  <location xml:base="http://old/" href="noarch/foo-1-1.noarch.rpm"/>
  <format>
    <rpm:provides><rpm:entry name="location"/></rpm:provides>
  </format>
</package>"#;

    #[test]
    fn rewrites_location_and_drops_xml_base() {
        let out = rewrite_location(REC, "Packages/f/foo-1-1.noarch.rpm").unwrap();
        assert_eq!(
            out,
            REC.replace(
                r#"<location xml:base="http://old/" href="noarch/foo-1-1.noarch.rpm"/>"#,
                r#"<location href="Packages/f/foo-1-1.noarch.rpm"/>"#
            )
        );
        let out = rewrite_location(REC, "a\"<&>.rpm").unwrap();
        assert!(
            out.contains(r#"<location href="a&quot;&lt;&amp;&gt;.rpm"/>"#),
            "{out}"
        );
    }

    #[test]
    fn rewrites_a_location_with_an_end_tag() {
        let rec = "<package type=\"rpm\"><name>x</name><location href=\"a\"></location><size package=\"7\"/></package>";
        assert_eq!(
            rewrite_location(rec, "b").unwrap(),
            "<package type=\"rpm\"><name>x</name><location href=\"b\"/><size package=\"7\"/></package>"
        );
        assert_eq!(package_size(rec), Some(7));
    }

    #[test]
    fn location_errors_name_the_package() {
        let e = rewrite_location("<package><name>bar</name></package>", "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("`bar`") && e.contains("no <location>"), "{e}");
        let e = rewrite_location(REC, "a\nb").unwrap_err().to_string();
        assert!(e.contains("`foo`") && e.contains("control"), "{e}");
    }

    #[test]
    fn reads_package_size() {
        assert_eq!(package_size(REC), Some(5541));
        assert_eq!(package_size("<package><name>x</name></package>"), None);
    }

    #[test]
    fn rejects_bad_input_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let p = PackageRecords {
            primary: REC.into(),
            filelists: "garbage".into(),
            other: "<package/>".into(),
        };
        let e = write_repodata(dir.path(), &[p], &[], &WriteOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("filelists record of package 0 (`foo`)"), "{e}");
        let x = ExtraMetadata {
            mdtype: "modules".into(),
            file_stem: "../x".into(),
            content: vec![],
        };
        let e = write_repodata(dir.path(), &[], &[x], &WriteOptions::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a file name"), "{e}");
        assert!(!dir.path().join("repodata").exists());
    }

    #[test]
    fn a_large_primary_is_gzipped_on_several_threads_as_one_member() {
        let packages: Vec<PackageRecords> = (0..12000)
            .map(|i| PackageRecords {
                primary: REC
                    .replace(
                        "<name>foo</name>",
                        &format!("<name>foo{}</name>", i * 7919 % 6007),
                    )
                    .replace("5541", &i.to_string())
                    .repeat(1 + i % 3),
                filelists: format!("<package pkgid=\"{i}\" name=\"foo\" arch=\"noarch\"/>"),
                other: format!("<package pkgid=\"{i}\" name=\"foo\" arch=\"noarch\"/>"),
            })
            .collect();
        let (_, _, head, tail) = frame(&packages, 0);
        let want: Vec<u8> = pieces(&packages, 0, &head, &tail)
            .flatten()
            .copied()
            .collect();
        // Several blocks.
        assert!(want.len() > PARALLEL_GZ_BYTES, "{}", want.len());
        let dir = tempfile::tempdir().unwrap();
        let w = write_repodata(dir.path(), &packages, &[], &WriteOptions::default()).unwrap();
        let primary = w.get("primary").unwrap();
        let bytes = std::fs::read(&primary.path).unwrap();
        // No mtime or file name; the parallel writer's header (OS
        // "unknown").
        assert_eq!(&bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        assert_eq!(primary.checksum, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(primary.size, bytes.len() as u64);
        // One gzip member (the single-member decoder reads it all) with a
        // valid CRC and length.
        let mut open = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut open).unwrap();
        assert!(open == want, "the open text differs");
        assert_eq!(primary.open_size, want.len() as u64);
        assert_eq!(primary.open_checksum, hex::encode(Sha256::digest(&want)));
        // gzip(1) agrees, and the file is about as small as in one piece
        // (this text compresses 60:1, so the blocks' cold starts weigh more
        // than on real metadata).
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&primary.path)
            .output()
            .unwrap();
        assert!(out.status.success() && out.stdout == want);
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(GZ_LEVEL));
        io::Write::write_all(&mut one, &want).unwrap();
        let one = one.finish().unwrap();
        assert!(
            bytes.len() < one.len() + one.len() / 50,
            "{} vs {}",
            bytes.len(),
            one.len()
        );
        // Deterministic.
        let again = tempfile::tempdir().unwrap();
        let w2 = write_repodata(again.path(), &packages, &[], &WriteOptions::default()).unwrap();
        assert_eq!(w2.get("primary").unwrap().checksum, primary.checksum);
    }

    #[test]
    fn parallel_gzip_is_the_same_whatever_the_threads_and_writes() {
        let text: Vec<u8> = (0..400_000u32)
            .flat_map(|i| {
                format!("<entry n=\"{}\"/>\n", i.wrapping_mul(2654435761) % 99991).into_bytes()
            })
            .collect();
        assert!(text.len() > PARALLEL_GZ_BYTES);
        let gz = |threads: usize, piece: usize| {
            let mut e = Encoder::ParallelGz(parallel_gz(Vec::new(), threads).unwrap());
            for chunk in text.chunks(piece) {
                e.write_all(chunk).unwrap();
                // A flush from a writer above must not end a block.
                e.flush().unwrap();
            }
            e.finish().unwrap()
        };
        let one = gz(1, 1 << 16);
        assert_eq!(gz(3, 7777), one);
        assert_eq!(gz(2, 3 << 20), one);
        let mut open = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&one[..]), &mut open).unwrap();
        assert!(open == text);
    }

    #[test]
    fn a_large_kept_run_is_one_parallel_member_and_old_members_are_not_reused() {
        let cache = tempfile::tempdir().unwrap();
        let mut packages: Vec<PackageRecords> = (0..6000)
            .map(|i| PackageRecords {
                primary: REC
                    .replace("<name>foo</name>", &format!("<name>big{i}</name>"))
                    .replace("5541", &(i * 7919 % 6007).to_string())
                    .repeat(3),
                filelists: format!("<package pkgid=\"big{i}\" name=\"big\" arch=\"noarch\"/>"),
                other: format!("<package pkgid=\"big{i}\" name=\"big\" arch=\"noarch\"/>"),
            })
            .collect();
        packages.extend(some_packages(20, "own"));
        let parts = [
            RecordsPart {
                range: 0..6000,
                keep: Some((cache.path().to_path_buf(), "big".into())),
            },
            RecordsPart {
                range: 6000..6020,
                keep: Some((cache.path().to_path_buf(), "own".into())),
            },
        ];
        let big_open: usize = packages[..6000].iter().map(|p| p.primary.len() + 1).sum();
        assert!(big_open > PARALLEL_GZ_BYTES, "{big_open}");
        let opts = WriteOptions::default();
        let write = || {
            let dir = tempfile::tempdir().unwrap();
            let w = write_repodata_parts(dir.path(), &packages, &parts, &[], &opts).unwrap();
            let primary = w.get("primary").unwrap().clone();
            (dir, primary)
        };
        let (_cold_dir, cold) = write();
        let kept = kept_member_path(cache.path(), "big", 0);
        let entry = std::fs::read(&kept).unwrap();
        assert_eq!(&entry[..16], KEPT_MAGIC);
        // The parallel writer's member (OS "unknown"); the small run's is
        // flate2's (Unix).
        assert_eq!(entry[KEPT_HEAD + 9], 255);
        let own = std::fs::read(kept_member_path(cache.path(), "own", 0)).unwrap();
        assert_eq!(own[KEPT_HEAD + 9], 3);
        // The whole file reads back as the one-piece text.
        let plain = tempfile::tempdir().unwrap();
        let want = write_repodata(plain.path(), &packages, &[], &opts).unwrap();
        assert!(open_text(&cold.path) == open_text(&want.get("primary").unwrap().path));
        assert_eq!(
            cold.open_checksum,
            want.get("primary").unwrap().open_checksum
        );
        let (_warm_dir, warm) = write();
        assert_eq!(warm.checksum, cold.checksum);
        // A member kept by the encoder before (same text, flate2 in one
        // piece, sound in every check but the version) is compressed
        // again, so a warm write gives a cold write's bytes.
        let mut e = gz_writer(Vec::new());
        for p in &packages[..6000] {
            e.write_all(p.primary.as_bytes()).unwrap();
            e.write_all(b"\n").unwrap();
        }
        let old = e.finish().unwrap();
        let mut old_entry = entry[..KEPT_HEAD].to_vec();
        old_entry[..16].copy_from_slice(b"strata-gzpart-1\n");
        old_entry[16..48].copy_from_slice(&Sha256::digest(&old));
        old_entry.extend_from_slice(&old);
        std::fs::write(&kept, &old_entry).unwrap();
        let (_again_dir, again) = write();
        assert_eq!(again.checksum, cold.checksum);
        assert!(std::fs::read(&kept).unwrap() == entry, "kept anew");
    }

    #[test]
    fn gzip_output_is_deterministic_and_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let p = PackageRecords {
            primary: REC.into(),
            filelists: "<package pkgid=\"x\" name=\"foo\" arch=\"noarch\"/>".into(),
            other: "<package pkgid=\"x\" name=\"foo\" arch=\"noarch\"/>".into(),
        };
        let opts = WriteOptions {
            timestamp: 42,
            ..Default::default()
        };
        let w = write_repodata(dir.path(), std::slice::from_ref(&p), &[], &opts).unwrap();
        let primary = w.get("primary").unwrap();
        let bytes = std::fs::read(&primary.path).unwrap();
        assert_eq!(&bytes[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(primary.checksum, hex::encode(Sha256::digest(&bytes)));
        assert_eq!(primary.size, bytes.len() as u64);
        let mut open = String::new();
        io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut open).unwrap();
        assert_eq!(
            primary.open_checksum,
            hex::encode(Sha256::digest(open.as_bytes()))
        );
        assert!(
            open.ends_with("</format>\n</package>\n</metadata>"),
            "{open}"
        );
        let repomd = std::fs::read_to_string(&w.repomd).unwrap();
        assert!(repomd.contains("<revision>42</revision>"), "{repomd}");
        // No leftovers from writing.
        let names: Vec<String> = std::fs::read_dir(dir.path().join("repodata"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
        assert_eq!(names.len(), 4);
    }

    fn some_packages(n: usize, tag: &str) -> Vec<PackageRecords> {
        (0..n)
            .map(|i| PackageRecords {
                primary: REC.replace("<name>foo</name>", &format!("<name>{tag}{i}</name>")),
                filelists: format!("<package pkgid=\"{tag}{i}\" name=\"{tag}\" arch=\"noarch\"/>"),
                other: format!("<package pkgid=\"{tag}{i}\" name=\"{tag}\" arch=\"noarch\"/>"),
            })
            .collect()
    }

    /// What a gzip file (of any number of members) holds.
    fn open_text(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap();
        let mut open = Vec::new();
        io::Read::read_to_end(
            &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
            &mut open,
        )
        .unwrap();
        open
    }

    #[test]
    fn runs_kept_between_writes_give_the_same_open_text_and_are_reused_only_when_they_match() {
        let cache = tempfile::tempdir().unwrap();
        let mut packages = some_packages(300, "low");
        packages.extend(some_packages(5, "mid"));
        packages.extend(some_packages(40, "own"));
        let parts = |own: &str| {
            vec![
                RecordsPart {
                    range: 0..300,
                    keep: Some((cache.path().to_path_buf(), "low-1.x86_64".into())),
                },
                RecordsPart {
                    range: 300..305,
                    keep: Some((cache.path().to_path_buf(), "mid-1.x86_64".into())),
                },
                RecordsPart {
                    range: 305..345,
                    keep: Some((cache.path().to_path_buf(), own.into())),
                },
            ]
        };
        let opts = WriteOptions {
            timestamp: 7,
            ..Default::default()
        };
        let plain = tempfile::tempdir().unwrap();
        let want = write_repodata(plain.path(), &packages, &[], &opts).unwrap();
        let write = |parts: &[RecordsPart]| {
            let dir = tempfile::tempdir().unwrap();
            let w = write_repodata_parts(dir.path(), &packages, parts, &[], &opts).unwrap();
            for (a, b) in w.files.iter().zip(&want.files) {
                // The same open text as in one piece, several members.
                assert_eq!(a.open_checksum, b.open_checksum);
                assert_eq!(a.open_size, b.open_size);
                assert!(open_text(&a.path) == open_text(&b.path), "{}", a.mdtype);
            }
            let sums: Vec<String> = w.files.iter().map(|f| f.checksum.clone()).collect();
            (dir, sums)
        };
        let (_cold_dir, cold) = write(&parts("own-1.x86_64"));
        // 3 runs kept for each of the 3 files.
        for key in ["low-1.x86_64", "mid-1.x86_64", "own-1.x86_64"] {
            assert!((0..3).all(|w| kept_member_path(cache.path(), key, w).is_file()));
        }
        let (_warm_dir, warm) = write(&parts("own-1.x86_64"));
        assert_eq!(warm, cold, "the kept members are the ones compressed");
        // A kept member that holds other text under the same key (another
        // run's) is not used: the run is compressed again and kept anew.
        std::fs::copy(
            kept_member_path(cache.path(), "mid-1.x86_64", 0),
            kept_member_path(cache.path(), "low-1.x86_64", 0),
        )
        .unwrap();
        // A damaged one neither.
        let mid = kept_member_path(cache.path(), "mid-1.x86_64", 1);
        let mut bytes = std::fs::read(&mid).unwrap();
        let last = bytes.len() - 9;
        bytes[last] ^= 0x40;
        std::fs::write(&mid, &bytes).unwrap();
        // Nor a symlink.
        let own = kept_member_path(cache.path(), "own-1.x86_64", 2);
        let elsewhere = cache.path().join("elsewhere");
        std::fs::rename(&own, &elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &own).unwrap();
        let (_again_dir, again) = write(&parts("own-1.x86_64"));
        assert_eq!(again, cold);
        assert!(
            std::fs::read(&mid).unwrap() != bytes,
            "the damaged member was kept anew"
        );
        assert!(
            !own.is_symlink(),
            "the symlink was replaced, not written through"
        );
        // Runs that do not cover the records in order: written in one piece.
        let dir = tempfile::tempdir().unwrap();
        let gaps = [RecordsPart {
            range: 0..10,
            keep: None,
        }];
        let w = write_repodata_parts(dir.path(), &packages, &gaps, &[], &opts).unwrap();
        assert_eq!(w.files[0].checksum, want.files[0].checksum);
        // The kept members are cache entries a prune knows.
        assert_eq!(
            crate::cache::entry_kind(
                kept_member_path(cache.path(), "x", 0)
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
            ),
            Some(true)
        );
    }
}
