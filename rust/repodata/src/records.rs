//! Raw per-package metadata records of a source repository: the
//! `<package>` elements of primary.xml, filelists.xml and other.xml, kept
//! byte for byte so a compose can publish a subset of a repository without
//! re-reading RPMs.
//!
//! The three files are streamed once and cut into records at the byte
//! offsets of their `<package>` elements. Records go into small zstd blocks
//! (a few packages each) compressed with a dictionary trained on the first
//! records of each file, so small blocks still compress well. The store
//! lives in memory and, with a cache directory, in a cache file keyed by the
//! three checksums in repomd.xml. Later opens map the file and check only
//! the index, and `get_many` decompresses only the blocks holding the
//! packages asked for: a compose costs what it selects, not what the
//! source holds.
//!
//! Cache file layout (integers little endian, tables plain-old-data as in
//! `cache.rs`): `MAGIC, VERSION u32, 0u32`; the blocks of primary,
//! filelists and other; zero bytes to a multiple of eight; the index (key,
//! package count, then per file: dictionary, block table, record table;
//! each part padded to a multiple of eight, so the tables are read in
//! place); a footer `index offset u64, index length u64, CRC-32 of the
//! index u64, MAGIC`. Every block is a zstd frame with a content checksum,
//! so a damaged block is noticed when it is read; the index is checked
//! against its CRC and bounds-checked when the file is opened. Files are
//! written aside and renamed into place, never changed in place (mapping
//! relies on it).

use crate::error::{RepodataError, Result};
use crate::limits::{self, Limit, MAX_RECORD_BYTES, MAX_XML_TOKEN_BYTES};
use crate::pods::Pods;
use crate::repomd::{Repomd, RepomdEntry};
use crate::source::{self, stream_error, Location};
use crate::{LoadOptions, Repo};
use bytemuck::{Pod, Zeroable};
use memmap2::Mmap;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use rustc_hash::FxHashMap;
use sha2::Digest;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

const MAGIC: &[u8; 8] = b"STRATRC\0";
/// 2: the index stored open and aligned (read in place), with a CRC.
/// 3: only records that passed the checks of `wellformed` (older stores
/// may hold entity references that do not survive publishing).
/// 4: only records read within `limits` (the file's `<open-size>` matched,
/// no record or XML token past its bound), which a store of 3 was not
/// checked against.
const VERSION: u32 = 4;
const HEADER_LEN: usize = 16;
const FOOTER_LEN: usize = 32;
/// A block is closed at whichever comes first (packages: see
/// `Kind::block_packages`). Small blocks keep the work of `get_many` close to
/// the size of what it returns.
const BLOCK_BYTES: usize = 16 << 10;
/// zstd level 1: on bookworm a sixth less compression work than 3 for
/// blocks 1-6% larger, and they decompress as fast.
const LEVEL: i32 = 1;
/// The first records of each file train its dictionary.
const SAMPLE_BYTES: usize = 256 << 10;
const MIN_SAMPLE_BYTES: usize = 64 << 10;
const DICT_BYTES: usize = 32 << 10;
/// Sanity limit for a block.
const MAX_OPEN_BLOCK: u32 = 1 << 30;
/// Above this much decompression `get_many` uses a second thread.
const PARALLEL_BYTES: u64 = 4 << 20;

/// The three raw records of one package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageRecords {
    /// `<package type="rpm">…</package>` from primary.xml.
    pub primary: String,
    /// `<package pkgid=… name=… arch=…>…</package>` from filelists.xml.
    pub filelists: String,
    /// `<package pkgid=… name=… arch=…>…</package>` from other.xml.
    pub other: String,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Primary = 0,
    Filelists = 1,
    Other = 2,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Primary, Kind::Filelists, Kind::Other];

    fn mdtype(self) -> &'static str {
        match self {
            Kind::Primary => "primary",
            Kind::Filelists => "filelists",
            Kind::Other => "other",
        }
    }

    /// Packages per block. Primary records are the large ones, and most of
    /// what `get_many` decompresses: two a block halve that work for blocks
    /// 14% larger (measured on bookworm, 5,000 packages asked for).
    fn block_packages(self) -> u32 {
        match self {
            Kind::Primary => 2,
            Kind::Filelists | Kind::Other => 4,
        }
    }

    fn root(self) -> &'static [u8] {
        match self {
            Kind::Primary => b"metadata",
            Kind::Filelists => b"filelists",
            Kind::Other => b"otherdata",
        }
    }
}

/// A block of records in the cache image.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct BlockEntry {
    offset: u64,
    comp_len: u32,
    open_len: u32,
}

/// Where one record lives: a block and a range in its decompressed bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
struct RecEntry {
    block: u32,
    start: u32,
    len: u32,
}

const UNSET: u32 = u32::MAX;

/// Identity fields of a record, used to match filelists and other records
/// to primary packages.
const PKGID: usize = 0;
const NAME: usize = 1;
const ARCH: usize = 2;
const EPOCH: usize = 3;
const VER: usize = 4;
const REL: usize = 5;
const FIELDS: usize = 6;

/// Rows of identity fields in one arena.
#[derive(Default)]
struct Idents {
    arena: String,
    ends: Vec<u32>,
}

impl Idents {
    fn push(&mut self, row: &[String; FIELDS]) {
        for f in row {
            self.arena.push_str(f);
            self.ends.push(self.arena.len() as u32);
        }
    }

    fn len(&self) -> usize {
        self.ends.len() / FIELDS
    }

    fn field(&self, row: usize, f: usize) -> &str {
        let i = row * FIELDS + f;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.arena[start..self.ends[i] as usize]
    }

    fn epoch(&self, row: usize) -> &str {
        match self.field(row, EPOCH) {
            "" => "0",
            e => e,
        }
    }

    /// `name-[epoch:]ver-rel.arch`, for messages.
    fn nevra(&self, row: usize) -> String {
        let epoch = self.epoch(row);
        format!(
            "{}-{}{}-{}.{}",
            self.field(row, NAME),
            if epoch == "0" {
                String::new()
            } else {
                format!("{epoch}:")
            },
            self.field(row, VER),
            self.field(row, REL),
            self.field(row, ARCH)
        )
    }
}

/// Records compressed into blocks as they arrive. The first records of a
/// file train a zstd dictionary first: with it, blocks of a few packages
/// compress as well as large blocks would without one.
struct Blocks {
    region: Vec<u8>,
    entries: Vec<BlockEntry>,
    recs: Vec<RecEntry>,
    open: Vec<u8>,
    in_block: u32,
    per_block: u32,
    scratch: Vec<u8>,
    /// `None` while the first records are collected for training.
    compressor: Option<zstd::bulk::Compressor<'static>>,
    dict: Vec<u8>,
    sample: Vec<u8>,
    sample_lens: Vec<usize>,
}

impl Blocks {
    fn new(per_block: u32) -> Blocks {
        Blocks {
            region: Vec::new(),
            entries: Vec::new(),
            recs: Vec::new(),
            open: Vec::with_capacity(BLOCK_BYTES * 2),
            in_block: 0,
            per_block,
            scratch: Vec::new(),
            compressor: None,
            dict: Vec::new(),
            sample: Vec::new(),
            sample_lens: Vec::new(),
        }
    }

    fn push(&mut self, record: &[u8]) -> io::Result<()> {
        if self.compressor.is_some() {
            return self.add(record);
        }
        self.sample.extend_from_slice(record);
        self.sample_lens.push(record.len());
        if self.sample.len() >= SAMPLE_BYTES {
            self.settle()?;
        }
        Ok(())
    }

    /// Trains the dictionary (when there is enough to learn from) and
    /// compresses the records held back for it.
    fn settle(&mut self) -> io::Result<()> {
        if self.sample.len() >= MIN_SAMPLE_BYTES {
            // Training can fail on odd input; blocks then go without.
            self.dict = train(&self.sample, &self.sample_lens).unwrap_or_default();
        }
        let mut c = zstd::bulk::Compressor::with_dictionary(LEVEL, &self.dict)?;
        c.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))?;
        // Literals stored as they are: blocks decompress a third faster for
        // a fifth more bytes, and compress no slower.
        c.set_parameter(zstd::zstd_safe::CParameter::LiteralCompressionMode(
            zstd::zstd_safe::ParamSwitch::Disable,
        ))?;
        self.compressor = Some(c);
        let sample = std::mem::take(&mut self.sample);
        let lens = std::mem::take(&mut self.sample_lens);
        let mut at = 0;
        for len in lens {
            self.add(&sample[at..at + len])?;
            at += len;
        }
        Ok(())
    }

    fn add(&mut self, record: &[u8]) -> io::Result<()> {
        let start = self.open.len();
        if start + record.len() > MAX_OPEN_BLOCK as usize {
            return Err(io::Error::other("a record is larger than 1 GiB"));
        }
        self.open.extend_from_slice(record);
        self.recs.push(RecEntry {
            block: self.entries.len() as u32,
            start: start as u32,
            len: record.len() as u32,
        });
        self.in_block += 1;
        if self.in_block >= self.per_block || self.open.len() >= BLOCK_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.in_block == 0 {
            return Ok(());
        }
        let compressor = self.compressor.as_mut().expect("settled before flushing");
        self.scratch.clear();
        self.scratch
            .reserve(zstd::zstd_safe::compress_bound(self.open.len()));
        compressor.compress_to_buffer(&self.open[..], &mut self.scratch)?;
        self.entries.push(BlockEntry {
            offset: self.region.len() as u64,
            comp_len: self.scratch.len() as u32,
            open_len: self.open.len() as u32,
        });
        self.region.extend_from_slice(&self.scratch);
        self.open.clear();
        self.in_block = 0;
        Ok(())
    }

    fn finish(mut self) -> io::Result<Blocks> {
        if self.compressor.is_none() {
            self.settle()?;
        }
        self.flush()?;
        self.open = Vec::new();
        self.scratch = Vec::new();
        Ok(self)
    }
}

/// A dictionary of at most `DICT_BYTES` from records back to back in
/// `sample`. One fastCover run with fixed parameters: zstd's default
/// training tries several and scores each by compressing the sample, eight
/// times the work for blocks 0.4% smaller (measured on bookworm's primary).
fn train(sample: &[u8], lens: &[usize]) -> Option<Vec<u8>> {
    use zstd::zstd_safe::zstd_sys;
    let mut dict = vec![0u8; DICT_BYTES];
    // Safe because all-zero is the documented "default" for every field of
    // the parameters struct.
    let mut params: zstd_sys::ZDICT_fastCover_params_t = unsafe { std::mem::zeroed() };
    params.k = 1000;
    params.d = 8;
    params.f = 20;
    params.accel = 1;
    params.zParams.compressionLevel = LEVEL;
    if lens.iter().sum::<usize>() != sample.len() {
        return None;
    }
    // Safe because `dict` and `sample` are valid for the lengths given and
    // `lens` holds `lens.len()` sizes adding up to `sample.len()`.
    let n = unsafe {
        zstd_sys::ZDICT_trainFromBuffer_fastCover(
            dict.as_mut_ptr().cast(),
            dict.len(),
            sample.as_ptr().cast(),
            lens.as_ptr(),
            u32::try_from(lens.len()).ok()?,
            params,
        )
    };
    // Safe because it only inspects the number.
    if unsafe { zstd_sys::ZDICT_isError(n) } != 0 {
        return None;
    }
    dict.truncate(n);
    Some(dict)
}

/// Where a record cutter's records go: compressed on its own thread, or
/// handed in batches to a thread of their own, so that cutting (and, for
/// primary, parsing) overlaps compressing.
enum Sink {
    Here(Blocks),
    Thread {
        /// The open batch: records back to back, and their lengths.
        batch: (Vec<u8>, Vec<u32>),
        tx: Option<std::sync::mpsc::SyncSender<(Vec<u8>, Vec<u32>)>>,
        worker: Option<std::thread::JoinHandle<io::Result<Blocks>>>,
        /// The blocks' shape as `Blocks::add` will see it, so that a record
        /// too large for a block is refused where it is met.
        open: usize,
        in_block: u32,
        per_block: u32,
    },
}

const BATCH_BYTES: usize = 256 << 10;

impl Sink {
    fn new(threaded: bool, per_block: u32) -> Sink {
        if !threaded {
            return Sink::Here(Blocks::new(per_block));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Vec<u8>, Vec<u32>)>(16);
        let worker = std::thread::spawn(move || -> io::Result<Blocks> {
            let mut blocks = Blocks::new(per_block);
            for (bytes, lens) in rx {
                let mut at = 0;
                for len in lens {
                    let len = len as usize;
                    blocks.push(&bytes[at..at + len])?;
                    at += len;
                }
            }
            blocks.finish()
        });
        Sink::Thread {
            batch: (Vec::with_capacity(BATCH_BYTES + (16 << 10)), Vec::new()),
            tx: Some(tx),
            worker: Some(worker),
            open: 0,
            in_block: 0,
            per_block,
        }
    }

    fn push(&mut self, record: &[u8]) -> io::Result<()> {
        match self {
            Sink::Here(blocks) => blocks.push(record),
            Sink::Thread {
                batch,
                tx,
                open,
                in_block,
                per_block,
                ..
            } => {
                if *open + record.len() > MAX_OPEN_BLOCK as usize {
                    return Err(io::Error::other("a record is larger than 1 GiB"));
                }
                *open += record.len();
                *in_block += 1;
                if *in_block >= *per_block || *open >= BLOCK_BYTES {
                    (*open, *in_block) = (0, 0);
                }
                batch.0.extend_from_slice(record);
                batch.1.push(record.len() as u32);
                if batch.0.len() >= BATCH_BYTES {
                    let full = std::mem::replace(
                        batch,
                        (Vec::with_capacity(BATCH_BYTES + (16 << 10)), Vec::new()),
                    );
                    Self::send(tx, full)?;
                }
                Ok(())
            }
        }
    }

    fn send(
        tx: &mut Option<std::sync::mpsc::SyncSender<(Vec<u8>, Vec<u32>)>>,
        batch: (Vec<u8>, Vec<u32>),
    ) -> io::Result<()> {
        let sent = tx.as_ref().is_some_and(|tx| tx.send(batch).is_ok());
        if !sent {
            // The compressor stopped: its error comes with `finish`.
            *tx = None;
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<Blocks> {
        match &mut self {
            Sink::Here(blocks) => Ok(std::mem::replace(blocks, Blocks::new(0)).finish()?),
            Sink::Thread {
                batch, tx, worker, ..
            } => {
                let last = std::mem::take(batch);
                if !last.1.is_empty() {
                    Self::send(tx, last)?;
                }
                *tx = None;
                worker
                    .take()
                    .expect("joined once")
                    .join()
                    .expect("record compressor panicked")
            }
        }
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Sink::Thread { tx, worker, .. } = self {
            *tx = None;
            if let Some(w) = worker.take() {
                let _ = w.join();
            }
        }
    }
}

/// One metadata file cut into records: blocks in file order, identities.
pub(crate) struct Scanned {
    blocks: Blocks,
    idents: Idents,
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
    /// `MAX_RECORD_BYTES`, except in tests.
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

fn xml_error(path: &str, position: u64, e: quick_xml::Error) -> RepodataError {
    match e {
        quick_xml::Error::Io(io) => stream_error(path, &io),
        other => RepodataError::Xml {
            path: path.to_string(),
            position,
            reason: other.to_string(),
        },
    }
}

fn bad(path: &str, position: u64, reason: impl Into<String>) -> RepodataError {
    RepodataError::Xml {
        path: path.to_string(),
        position,
        reason: reason.into(),
    }
}

fn unescaped(path: &str, pos: u64, raw: &[u8], out: &mut String) -> Result<()> {
    let s = std::str::from_utf8(raw).map_err(|_| bad(path, pos, "text is not UTF-8"))?;
    if s.contains('&') {
        let u = quick_xml::escape::unescape(s).map_err(|e| bad(path, pos, e.to_string()))?;
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
        let a = a.map_err(|err| xml_error(path, pos, err.into()))?;
        if let Some(&(_, f)) = wanted.iter().find(|(k, _)| *k == a.key.as_ref()) {
            row[f].clear();
            unescaped(path, pos, &a.value, &mut row[f])?;
        }
    }
    Ok(())
}

const VERSION_ATTRS: &[(&[u8], usize)] = &[(b"epoch", EPOCH), (b"ver", VER), (b"rel", REL)];
const PACKAGE_ATTRS: &[(&[u8], usize)] = &[(b"pkgid", PKGID), (b"name", NAME), (b"arch", ARCH)];

/// Cuts one metadata file into records. For primary the identity comes
/// from `<checksum>`, `<name>`, `<arch>` and `<version>`; for filelists and
/// other from the `<package>` attributes and `<version>`.
fn scan(input: &mut dyn BufRead, path: &str, kind: Kind) -> Result<Scanned> {
    scan_bounded(input, path, kind, MAX_RECORD_BYTES)
}

fn scan_bounded(
    input: &mut dyn BufRead,
    path: &str,
    kind: Kind,
    max_record: u64,
) -> Result<Scanned> {
    let mut reader = Reader::from_reader(Tee::new(input, max_record));
    let mut scanner = Scanner::new(kind, false);
    let mut wellformed = crate::wellformed::Wellformed::default();
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(path, pos, e))?;
        reader.get_mut().mark();
        if matches!(ev, Event::Eof) {
            break;
        }
        wellformed.event(&ev, pos, path)?;
        scanner.event(&ev, pos, path, &mut reader.get_mut().kept)?;
    }
    scanner.finish(path, reader.buffer_position())
}

/// Primary.xml parsed into `repo` and cut into records in one pass: one
/// decompression and one tokenization feed both. Errors come as the two
/// separate passes would give them: the outer result is the parser's (it
/// would have failed first), the inner one the record cutter's.
pub(crate) fn parse_and_scan_primary(
    input: &mut dyn BufRead,
    path: &str,
    repo: &mut Repo,
) -> Result<Result<Scanned>> {
    let mut reader = Reader::from_reader(Tee::new(input, MAX_RECORD_BYTES));
    let mut parser = crate::primary::PrimaryParser::default();
    let mut scanner = Scanner::new(Kind::Primary, true);
    let mut scan_error: Option<RepodataError> = None;
    let mut wellformed = crate::wellformed::Wellformed::default();
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let ev = reader
            .read_event_into(&mut buf)
            .map_err(|e| xml_error(path, pos, e))?;
        reader.get_mut().mark();
        if matches!(ev, Event::Eof) {
            break;
        }
        wellformed.event(&ev, pos, path)?;
        parser.event(&ev, pos, path, repo)?;
        let kept = &mut reader.get_mut().kept;
        if scan_error.is_none() {
            if let Err(e) = scanner.event(&ev, pos, path, kept) {
                scan_error = Some(e);
            }
        }
        if scan_error.is_some() {
            // Only the parser still needs the stream.
            kept.clear();
        }
    }
    let end = reader.buffer_position();
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
                        return Err(bad(path, pos, "cannot locate <package> in the stream"));
                    };
                    if kept[at] != b'<' {
                        return Err(bad(path, pos, "cannot locate <package> in the stream"));
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
                        .map_err(|_| bad(path, pos, "text is not UTF-8"))?;
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
                return Err(bad(path, pos, "<package> without a pkgid or a name"));
            }
            if std::str::from_utf8(kept).is_err() {
                return Err(bad(
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
            return Err(bad(
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
            return Err(bad(
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

/// The record createrepo_c writes for a package without files or
/// changelogs.
fn minimal_record(idents: &Idents, row: usize) -> String {
    format!(
        "<package pkgid=\"{}\" name=\"{}\" arch=\"{}\">\n  <version epoch=\"{}\" ver=\"{}\" rel=\"{}\"/>\n</package>",
        escape_attr(idents.field(row, PKGID)),
        escape_attr(idents.field(row, NAME)),
        escape_attr(idents.field(row, ARCH)),
        escape_attr(idents.epoch(row)),
        escape_attr(idents.field(row, VER)),
        escape_attr(idents.field(row, REL)),
    )
}

/// Places the records of a filelists or other file at their primary
/// indices, checking that each names the same package as primary.
fn match_to_primary(primary: &Idents, scanned: &Scanned, path: &str) -> Result<Vec<RecEntry>> {
    let n = primary.len();
    let mut first: FxHashMap<&str, u32> = FxHashMap::default();
    first.reserve(n);
    // Packages sharing a pkgid (the same RPM listed twice) are chained.
    let mut next_same = vec![UNSET; n];
    for i in (0..n).rev() {
        if let Some(old) = first.insert(primary.field(i, PKGID), i as u32) {
            next_same[i] = old;
        }
    }
    let mut placed = vec![
        RecEntry {
            block: UNSET,
            start: 0,
            len: 0,
        };
        n
    ];
    let ids = &scanned.idents;
    for (j, rec) in scanned.blocks.recs.iter().enumerate() {
        let pkgid = ids.field(j, PKGID);
        let mut at = first.get(pkgid).copied().unwrap_or(UNSET);
        while at != UNSET && placed[at as usize].block != UNSET {
            at = next_same[at as usize];
        }
        if at == UNSET {
            let reason = if first.contains_key(pkgid) {
                "more records for this pkgid than primary.xml has packages".to_string()
            } else {
                "primary.xml has no package with this pkgid".to_string()
            };
            return Err(RepodataError::RecordMismatch {
                path: path.to_string(),
                package: format!("{} (pkgid {pkgid})", ids.nevra(j)),
                reason,
            });
        }
        let i = at as usize;
        for (f, what) in [
            (NAME, "name"),
            (ARCH, "arch"),
            (VER, "version"),
            (REL, "release"),
        ] {
            if ids.field(j, f) != primary.field(i, f) {
                return Err(RepodataError::RecordMismatch {
                    path: path.to_string(),
                    package: primary.nevra(i),
                    reason: format!(
                        "{what} is `{}` here, `{}` in primary.xml (pkgid {pkgid})",
                        ids.field(j, f),
                        primary.field(i, f)
                    ),
                });
            }
        }
        if ids.epoch(j) != primary.epoch(i) {
            return Err(RepodataError::RecordMismatch {
                path: path.to_string(),
                package: primary.nevra(i),
                reason: format!(
                    "epoch is `{}` here, `{}` in primary.xml (pkgid {pkgid})",
                    ids.epoch(j),
                    primary.epoch(i)
                ),
            });
        }
        placed[i] = *rec;
    }
    if let Some(i) = placed.iter().position(|r| r.block == UNSET) {
        return Err(RepodataError::MissingRecord {
            path: path.to_string(),
            package: primary.nevra(i),
            pkgid: primary.field(i, PKGID).to_string(),
        });
    }
    Ok(placed)
}

/// The parsed index of a store image. Its tables are read in place from a
/// mapped cache file.
struct Index {
    key: String,
    n: usize,
    blocks: [Pods<BlockEntry>; 3],
    recs: [Pods<RecEntry>; 3],
    /// The zstd dictionary of each kind's blocks (may be empty).
    dicts: [Vec<u8>; 3],
}

/// Zero bytes up to the next multiple of eight, so that the tables that
/// follow are aligned (the index starts aligned).
fn pad8(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(8), 0);
}

impl Index {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.key.len() as u64).to_le_bytes());
        out.extend_from_slice(self.key.as_bytes());
        pad8(&mut out);
        out.extend_from_slice(&(self.n as u64).to_le_bytes());
        for k in 0..3 {
            out.extend_from_slice(&(self.dicts[k].len() as u64).to_le_bytes());
            out.extend_from_slice(&self.dicts[k]);
            pad8(&mut out);
            out.extend_from_slice(&(self.blocks[k].len() as u64).to_le_bytes());
            out.extend_from_slice(bytemuck::cast_slice(&self.blocks[k]));
            out.extend_from_slice(bytemuck::cast_slice(&self.recs[k]));
            pad8(&mut out);
        }
        out
    }

    /// Decodes and bounds-checks the index at `at..at + len` of `bytes`;
    /// `data_end` is where the blocks region ends. Returns why it is
    /// unusable.
    fn decode(
        bytes: &Bytes,
        at: usize,
        len: usize,
        data_end: u64,
    ) -> std::result::Result<Index, String> {
        let all = bytes.all();
        let end = at
            .checked_add(len)
            .filter(|&e| e <= all.len())
            .ok_or("the index is out of bounds")?;
        let mut c = Cursor {
            bytes: &all[..end],
            at,
        };
        let key_len = usize::try_from(c.u64()?).map_err(|e| e.to_string())?;
        let key = std::str::from_utf8(c.take(key_len)?)
            .map_err(|_| "the key is not UTF-8")?
            .to_string();
        c.pad8()?;
        let n = usize::try_from(c.u64()?).map_err(|e| e.to_string())?;
        let mut blocks: [Pods<BlockEntry>; 3] = Default::default();
        let mut recs: [Pods<RecEntry>; 3] = Default::default();
        let mut dicts: [Vec<u8>; 3] = Default::default();
        for k in 0..3 {
            let dict_len = usize::try_from(c.u64()?).map_err(|e| e.to_string())?;
            dicts[k] = c.take(dict_len)?.to_vec();
            c.pad8()?;
            let nb = usize::try_from(c.u64()?).map_err(|e| e.to_string())?;
            blocks[k] = c.table(bytes, nb)?;
            recs[k] = c.table(bytes, n)?;
            c.pad8()?;
        }
        if c.at != end {
            return Err("trailing bytes after the index".into());
        }
        for k in 0..3 {
            for b in blocks[k].iter() {
                let end = b.offset.checked_add(u64::from(b.comp_len));
                if b.offset < HEADER_LEN as u64
                    || end.is_none_or(|e| e > data_end)
                    || b.open_len > MAX_OPEN_BLOCK
                {
                    return Err(format!(
                        "a {} block is out of bounds",
                        Kind::ALL[k].mdtype()
                    ));
                }
            }
            for r in recs[k].iter() {
                let Some(b) = blocks[k].get(r.block as usize) else {
                    return Err(format!(
                        "a {} record names a missing block",
                        Kind::ALL[k].mdtype()
                    ));
                };
                if u64::from(r.start) + u64::from(r.len) > u64::from(b.open_len) {
                    return Err(format!(
                        "a {} record is out of bounds",
                        Kind::ALL[k].mdtype()
                    ));
                }
            }
        }
        Ok(Index {
            key,
            n,
            blocks,
            recs,
            dicts,
        })
    }
}

/// Reads an index with bounds checks.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, len: usize) -> std::result::Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or("the index is cut short")?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn pad8(&mut self) -> std::result::Result<(), String> {
        let padded = self.at.next_multiple_of(8);
        self.take(padded - self.at).map(|_| ())
    }

    /// `n` records of a table, read in place where `bytes` is mapped.
    fn table<T: Pod>(&mut self, bytes: &Bytes, n: usize) -> std::result::Result<Pods<T>, String> {
        let len = n
            .checked_mul(std::mem::size_of::<T>())
            .ok_or("a table's length overflows")?;
        let at = self.at;
        let raw = self.take(len)?;
        match bytes {
            Bytes::Mapped(map) => {
                Pods::mapped(map, at, n).ok_or_else(|| "a table is misaligned".into())
            }
            Bytes::Memory(_) => Ok(Pods::from(bytemuck::pod_collect_to_vec(raw))),
        }
    }
}

/// A store image: built in memory, or a mapped cache file.
enum Bytes {
    Memory(Vec<u8>),
    Mapped(Arc<Mmap>),
}

impl Bytes {
    fn all(&self) -> &[u8] {
        match self {
            Bytes::Memory(v) => v,
            Bytes::Mapped(m) => m,
        }
    }

    /// A cache file's bytes in place: mapped, or (where mapping fails) read
    /// into an anonymous map, which reads the same way.
    fn map(file: &File) -> io::Result<Bytes> {
        // Safe because cache files are never changed in place: they are
        // written aside and renamed over.
        if let Ok(map) = unsafe { Mmap::map(file) } {
            return Ok(Bytes::Mapped(Arc::new(map)));
        }
        let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
        let mut anon = memmap2::MmapMut::map_anon(len)?;
        io::Read::read_exact(&mut &*file, &mut anon)?;
        Ok(Bytes::Mapped(Arc::new(anon.make_read_only()?)))
    }
}

struct Backing {
    bytes: Bytes,
    index: Index,
}

impl Backing {
    /// Serializes a freshly built index and blocks into one image, written
    /// to `out` piece by piece.
    fn write_image(
        out: &mut dyn Write,
        key: &str,
        regions: &[Blocks; 3],
        recs: &[Vec<RecEntry>; 3],
        n: usize,
    ) -> io::Result<()> {
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        let mut at = HEADER_LEN as u64;
        let mut blocks: [Vec<BlockEntry>; 3] = Default::default();
        let mut dicts: [Vec<u8>; 3] = Default::default();
        for (k, b) in regions.iter().enumerate() {
            dicts[k] = b.dict.clone();
            let base = at;
            out.write_all(&b.region)?;
            at += b.region.len() as u64;
            blocks[k] = b
                .entries
                .iter()
                .map(|&e| BlockEntry {
                    offset: e.offset + base,
                    ..e
                })
                .collect();
        }
        let index = Index {
            key: key.to_string(),
            n,
            blocks: blocks.map(Pods::from),
            recs: recs.clone().map(Pods::from),
            dicts,
        };
        let pad = at.next_multiple_of(8) - at;
        out.write_all(&[0; 8][..pad as usize])?;
        let index_off = at + pad;
        let encoded = index.encode();
        let mut crc = flate2::Crc::new();
        crc.update(&encoded);
        out.write_all(&encoded)?;
        out.write_all(&index_off.to_le_bytes())?;
        out.write_all(&(encoded.len() as u64).to_le_bytes())?;
        out.write_all(&u64::from(crc.sum()).to_le_bytes())?;
        out.write_all(MAGIC)?;
        Ok(())
    }

    /// Checks the header, footer and index of an image.
    fn open(bytes: Bytes) -> std::result::Result<Backing, String> {
        let all = bytes.all();
        let len = all.len();
        if len < HEADER_LEN + FOOTER_LEN {
            return Err("the file is too short".into());
        }
        if &all[..8] != MAGIC {
            return Err("not a record store (bad magic)".into());
        }
        if all[8..12] != VERSION.to_le_bytes() {
            return Err("written by another version".into());
        }
        let footer = &all[len - FOOTER_LEN..];
        if &footer[24..] != MAGIC {
            return Err("the file is cut short (no footer)".into());
        }
        let word = |i: usize| u64::from_le_bytes(footer[i * 8..i * 8 + 8].try_into().expect("8"));
        let (index_off, index_len, sum) = (word(0), word(1), word(2));
        if index_off < HEADER_LEN as u64
            || !index_off.is_multiple_of(8)
            || index_off.checked_add(index_len) != Some((len - FOOTER_LEN) as u64)
        {
            return Err("the footer is out of bounds".into());
        }
        let (at, index_len) = (index_off as usize, index_len as usize);
        let mut crc = flate2::Crc::new();
        crc.update(&all[at..at + index_len]);
        if u64::from(crc.sum()) != sum {
            return Err("the index is damaged (CRC mismatch)".into());
        }
        let index = Index::decode(&bytes, at, index_len, index_off)?;
        Ok(Backing { bytes, index })
    }
}

fn cache_io(e: io::Error) -> RepodataError {
    RepodataError::Io {
        path: "record store".into(),
        source: e,
    }
}

/// What a store was built from, so it can be built again.
pub(crate) struct Source {
    location: Location,
    entries: [Option<RepomdEntry>; 3],
    key: String,
    cache_file: Option<PathBuf>,
    cache_limits: crate::CacheLimits,
}

/// The raw records of one repository, by package index (primary order).
pub struct RecordStore {
    source: Source,
    n: usize,
    backing: RwLock<Arc<Backing>>,
    from_cache: bool,
}

impl std::fmt::Debug for RecordStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStore")
            .field("location", &self.source.location)
            .field("packages", &self.n)
            .field("cache_file", &self.source.cache_file)
            .field("from_cache", &self.from_cache)
            .finish()
    }
}

/// Opens the raw records of `repo`: from the cache when a cache file for
/// the same repomd checksums exists and validates, else by streaming
/// primary, filelists and other once (and writing the cache file).
pub fn open_records(repo: &Repo, opts: &LoadOptions) -> Result<RecordStore> {
    let location = Location::parse(&repo.location);
    let repomd = Repomd::load(&location)?;
    let repomd_path = location.display("repodata/repomd.xml");
    let source = Source::new(location, &repomd, opts)?;
    let primary = source.primary_checksum();
    if primary != repo.checksum {
        return Err(RepodataError::Invalid {
            path: repomd_path,
            reason: format!(
                "primary.xml is now {primary}, but `{}` was loaded from {}: reload the repository",
                repo.id, repo.checksum
            ),
        });
    }
    source.open(repo)
}

/// Two metadata files cut into records, or absent from the repository.
pub(crate) type Rest = (Option<Scanned>, Option<Scanned>);

impl Source {
    /// What a store of the repository described by `repomd` is built from.
    pub(crate) fn new(location: Location, repomd: &Repomd, opts: &LoadOptions) -> Result<Source> {
        let entries = Kind::ALL.map(|k| repomd.get(k.mdtype()).cloned());
        if entries[0].is_none() {
            return Err(RepodataError::MissingType {
                path: location.display("repodata/repomd.xml"),
                mdtype: "primary".into(),
            });
        }
        let key = Kind::ALL
            .iter()
            .zip(&entries)
            .map(|(k, e)| {
                format!(
                    "{}={}",
                    k.mdtype(),
                    e.as_ref().map_or("none".into(), crate::entry_checksum)
                )
            })
            .collect::<Vec<_>>()
            .join(";");
        let cache_file = opts.cache_dir.as_ref().map(|dir| {
            let digest = hex::encode(sha2::Sha256::digest(key.as_bytes()));
            dir.join(format!("records-{}.v{VERSION}.strata", &digest[..40]))
        });
        Ok(Source {
            location,
            entries,
            key,
            cache_file,
            cache_limits: opts.cache_limits.clone(),
        })
    }

    fn primary_checksum(&self) -> String {
        crate::entry_checksum(self.entries[0].as_ref().expect("primary is present"))
    }

    /// Whether a record cache file exists (valid or not).
    pub(crate) fn has_cache_file(&self) -> bool {
        self.cache_file.as_ref().is_some_and(|p| p.exists())
    }

    /// The store of `repo`, from the cache or built.
    pub(crate) fn open(self, repo: &Repo) -> Result<RecordStore> {
        if let Some(path) = &self.cache_file {
            if let Some(backing) = self.try_cache(path, repo.len()) {
                tracing::debug!(repo = %repo.id, path = %path.display(), "records from cache");
                return Ok(RecordStore {
                    n: backing.index.n,
                    source: self,
                    backing: RwLock::new(Arc::new(backing)),
                    from_cache: true,
                });
            }
        }
        let backing = self.build(Some(repo))?;
        tracing::debug!(repo = %repo.id, packages = backing.index.n, "records streamed");
        Ok(RecordStore {
            n: backing.index.n,
            source: self,
            backing: RwLock::new(Arc::new(backing)),
            from_cache: false,
        })
    }

    /// A usable cache file, or `None` (with a warning when one exists but
    /// does not validate).
    fn try_cache(&self, path: &Path, expect_n: usize) -> Option<Backing> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot open the record cache, rebuilding it: {e}");
                return None;
            }
        };
        let bytes = match Bytes::map(&file) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot read the record cache, rebuilding it: {e}");
                return None;
            }
        };
        crate::cache::touch(&file);
        let checked = Backing::open(bytes).and_then(|b| {
            if b.index.key != self.key {
                Err("it was written for other metadata".to_string())
            } else if b.index.n != expect_n {
                Err(format!("it holds {} packages, not {expect_n}", b.index.n))
            } else {
                Ok(b)
            }
        });
        match checked {
            Ok(b) => Some(b),
            Err(reason) => {
                tracing::warn!(path = %path.display(), "the record cache is unusable, rebuilding it: {reason}");
                None
            }
        }
    }

    /// Streams one metadata file and cuts it into records.
    fn read(&self, kind: Kind) -> Result<Option<Scanned>> {
        let Some(entry) = &self.entries[kind as usize] else {
            return Ok(None);
        };
        source::read_verified(
            &self.location,
            &entry.href,
            &entry.expected,
            |input, path| scan(input, path, kind),
        )
        .map(Some)
    }

    /// Filelists and other, one after the other.
    fn read_rest(&self) -> Result<Rest> {
        Ok((self.read(Kind::Filelists)?, self.read(Kind::Other)?))
    }

    /// Primary.xml parsed into `repo` and cut into records in one pass,
    /// with filelists and other read alongside. The first result holds the
    /// parser's errors outside and the record cutter's inside.
    pub(crate) fn read_with_repo(
        &self,
        repo: &mut Repo,
    ) -> (Result<Result<Scanned>>, Result<Rest>) {
        let entry = self.entries[0].as_ref().expect("primary is present");
        std::thread::scope(|s| {
            let side = s.spawn(|| self.read_rest());
            let primary = source::read_verified(
                &self.location,
                &entry.href,
                &entry.expected,
                |input, path| parse_and_scan_primary(input, path, repo),
            );
            (primary, side.join().expect("record reader thread panicked"))
        })
    }

    /// The three files cut into records, without a repository to check.
    pub(crate) fn read_all(&self) -> (Result<Scanned>, Result<Rest>) {
        std::thread::scope(|s| {
            let side = s.spawn(|| self.read_rest());
            let primary = self
                .read(Kind::Primary)
                .map(|p| p.expect("primary is present"));
            (primary, side.join().expect("record reader thread panicked"))
        })
    }

    /// The store of `repo` from its files cut into records (checked
    /// against `repo`); writes the cache file when there is a cache
    /// directory.
    pub(crate) fn finish(self, primary: Scanned, rest: Rest, repo: &Repo) -> Result<RecordStore> {
        let backing = self.assemble(primary, rest, Some(repo))?;
        tracing::debug!(repo = %repo.id, packages = backing.index.n, "records streamed");
        Ok(RecordStore {
            n: backing.index.n,
            source: self,
            backing: RwLock::new(Arc::new(backing)),
            from_cache: false,
        })
    }

    /// Streams the three files and builds the store; writes the cache
    /// file when there is a cache directory.
    fn build(&self, repo: Option<&Repo>) -> Result<Backing> {
        // Primary is by far the largest; filelists and other are read
        // alongside it.
        let (primary, rest) = self.read_all();
        self.assemble(primary?, rest?, repo)
    }

    /// Places filelists and other at their primary packages (minimal
    /// records where a file is absent), checks primary against `repo`, and
    /// builds the store image; writes the cache file when there is a cache
    /// directory.
    fn assemble(&self, primary: Scanned, rest: Rest, repo: Option<&Repo>) -> Result<Backing> {
        let (filelists, other) = rest;
        let n = primary.idents.len();
        let path_of = |k: Kind| {
            let e = self.entries[k as usize].as_ref().expect("entry present");
            self.location.display(&e.href)
        };
        if let Some(repo) = repo {
            check_against_repo(&primary.idents, repo, &path_of(Kind::Primary))?;
        }
        let mut recs: [Vec<RecEntry>; 3] = Default::default();
        let mut regions = Vec::with_capacity(3);
        recs[0] = primary.blocks.recs.clone();
        for (kind, scanned) in [(Kind::Filelists, filelists), (Kind::Other, other)] {
            match scanned {
                Some(s) => {
                    recs[kind as usize] = match_to_primary(&primary.idents, &s, &path_of(kind))?;
                    regions.push(s.blocks);
                }
                None => {
                    let mut blocks = Blocks::new(kind.block_packages());
                    for i in 0..n {
                        blocks
                            .push(minimal_record(&primary.idents, i).as_bytes())
                            .map_err(cache_io)?;
                    }
                    let blocks = blocks.finish().map_err(cache_io)?;
                    recs[kind as usize] = blocks.recs.clone();
                    regions.push(blocks);
                }
            }
        }
        regions.insert(0, primary.blocks);
        let regions: [Blocks; 3] = regions.try_into().ok().expect("three regions");
        let invalid = |reason| RepodataError::Invalid {
            path: "record store".into(),
            reason,
        };
        let in_memory = || -> Result<Backing> {
            let mut image = Vec::new();
            Backing::write_image(&mut image, &self.key, &regions, &recs, n).map_err(cache_io)?;
            Backing::open(Bytes::Memory(image)).map_err(invalid)
        };
        let Some(path) = &self.cache_file else {
            return in_memory();
        };
        // Written straight to the cache file and mapped back: no copy of
        // the image in memory.
        match write_aside(path, |out| {
            Backing::write_image(out, &self.key, &regions, &recs, n)
        })
        .and_then(|()| Bytes::map(&File::open(path)?))
        {
            Ok(bytes) => {
                if let Some(dir) = path.parent() {
                    crate::cache::prune_after_write(dir, &self.cache_limits, path);
                }
                Backing::open(bytes).map_err(invalid)
            }
            Err(e) => {
                // A cache that cannot be written only costs time next run.
                tracing::warn!(path = %path.display(), "cannot write the record cache: {e}");
                in_memory()
            }
        }
    }
}

fn check_against_repo(primary: &Idents, repo: &Repo, path: &str) -> Result<()> {
    if primary.len() != repo.len() {
        return Err(RepodataError::Invalid {
            path: path.to_string(),
            reason: format!(
                "holds {} packages, but `{}` was loaded with {}",
                primary.len(),
                repo.id,
                repo.len()
            ),
        });
    }
    for p in repo.iter() {
        let i = p.index as usize;
        let sum = p.checksum();
        let hex = sum.split_once(':').map_or(sum, |(_, h)| h);
        if !hex.eq_ignore_ascii_case(primary.field(i, PKGID)) || p.name() != primary.field(i, NAME)
        {
            return Err(RepodataError::RecordMismatch {
                path: path.to_string(),
                package: primary.nevra(i),
                reason: format!(
                    "package {i} is `{}` ({}) in the loaded repository",
                    p.nevra(),
                    p.checksum()
                ),
            });
        }
    }
    Ok(())
}

/// Writes a file aside and renames it into place.
fn write_aside(path: &Path, fill: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = tempfile::NamedTempFile::new_in(dir)?;
    let mut out = io::BufWriter::with_capacity(1 << 16, tmp);
    fill(&mut out)?;
    let tmp = out.into_inner().map_err(|e| e.into_error())?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A block that failed to read or decompress.
struct Damaged(String);

impl RecordStore {
    /// Number of packages (the same as the repository's).
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Whether this store was opened from its cache file.
    pub fn from_cache(&self) -> bool {
        self.from_cache
    }

    /// The cache file this store is kept in, if any.
    pub fn cache_file(&self) -> Option<&Path> {
        self.source.cache_file.as_deref()
    }

    /// The records of the packages at `indices` (primary order), in the
    /// order asked. Decompresses only the blocks that hold them. A damaged
    /// cache file is rebuilt from the source and the read retried.
    pub fn get_many(&self, indices: &[u32]) -> Result<Vec<PackageRecords>> {
        if let Some(&bad) = indices.iter().find(|&&i| i as usize >= self.n) {
            return Err(RepodataError::Invalid {
                path: self.source.location.display("repodata/repomd.xml"),
                reason: format!("package index {bad} is out of range ({} packages)", self.n),
            });
        }
        let backing = self.backing.read().expect("lock").clone();
        match read_records(&backing, indices) {
            Ok(r) => return Ok(r),
            Err(Damaged(reason)) => {
                let path = self.source.cache_file.clone().unwrap_or_default();
                if matches!(backing.bytes, Bytes::Memory(_)) {
                    return Err(RepodataError::Cache { path, reason });
                }
                tracing::warn!(path = %path.display(), "the record cache is damaged, rebuilding it: {reason}");
            }
        }
        let rebuilt = Arc::new(self.source.build(None)?);
        if rebuilt.index.n != self.n {
            return Err(RepodataError::Invalid {
                path: self.source.location.display("repodata/repomd.xml"),
                reason: "the repository changed while it was being composed".into(),
            });
        }
        *self.backing.write().expect("lock") = rebuilt.clone();
        read_records(&rebuilt, indices).map_err(|Damaged(reason)| RepodataError::Cache {
            path: self.source.cache_file.clone().unwrap_or_default(),
            reason,
        })
    }
}

/// A block to decompress: kind, block number.
type BlockRef = (usize, u32);

/// A record to copy out of a decompressed block: output position, kind.
type Want = (u32, u8);

fn read_records(b: &Backing, indices: &[u32]) -> std::result::Result<Vec<PackageRecords>, Damaged> {
    let idx = &b.index;
    // The needed blocks, sorted by kind and offset, and for each the
    // records to copy out of it.
    let mut needed: Vec<BlockRef> = Vec::new();
    let mut wants: Vec<(u32, Want)> = Vec::with_capacity(indices.len() * 3);
    for k in 0..3 {
        let mut slot = vec![UNSET; idx.blocks[k].len()];
        let mut mine: Vec<u32> = indices
            .iter()
            .map(|&i| idx.recs[k][i as usize].block)
            .collect();
        mine.sort_unstable();
        mine.dedup();
        for blk in mine {
            slot[blk as usize] = needed.len() as u32;
            needed.push((k, blk));
        }
        for (j, &i) in indices.iter().enumerate() {
            let job = slot[idx.recs[k][i as usize].block as usize];
            wants.push((job, (j as u32, k as u8)));
        }
    }
    wants.sort_unstable_by_key(|w| w.0);
    let mut out = vec![PackageRecords::default(); indices.len()];
    for (j, k, text) in extract(b, indices, &needed, &wants)? {
        let r = &mut out[j as usize];
        *match k {
            0 => &mut r.primary,
            1 => &mut r.filelists,
            _ => &mut r.other,
        } = text;
    }
    Ok(out)
}

/// Decompresses the `needed` blocks and copies the wanted records out of
/// each.
fn extract(
    b: &Backing,
    indices: &[u32],
    needed: &[BlockRef],
    wants: &[(u32, Want)],
) -> std::result::Result<Vec<(u32, u8, String)>, Damaged> {
    let entry = |&(k, blk): &BlockRef| b.index.blocks[k][blk as usize];
    let all = b.bytes.all();
    // Each needed block: its compressed bytes, open length, kind, and
    // its range in `wants`.
    let mut jobs: Vec<Job> = Vec::with_capacity(needed.len());
    let mut w = 0usize;
    for (j, r) in needed.iter().enumerate() {
        let e = entry(r);
        // In bounds: checked when the index was read.
        let comp = &all[e.offset as usize..(e.offset + u64::from(e.comp_len)) as usize];
        let from = w;
        while w < wants.len() && wants[w].0 as usize == j {
            w += 1;
        }
        jobs.push(Job {
            comp,
            open_len: e.open_len,
            kind: r.0,
            wants: &wants[from..w],
        });
    }
    let total: u64 = jobs.iter().map(|j| u64::from(j.open_len)).sum();
    let threads = if total > PARALLEL_BYTES {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        1
    };
    if threads <= 1 {
        return run_jobs(&b.index, indices, &jobs);
    }
    // Contiguous shares of about equal size.
    let share = total.div_ceil(threads as u64);
    let mut cuts = vec![0usize];
    let mut acc = 0u64;
    for (j, job) in jobs.iter().enumerate() {
        acc += u64::from(job.open_len);
        if acc >= share * cuts.len() as u64 && cuts.len() < threads {
            cuts.push(j + 1);
        }
    }
    cuts.push(jobs.len());
    cuts.dedup();
    std::thread::scope(|s| {
        let handles: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let part = &jobs[w[0]..w[1]];
                s.spawn(move || run_jobs(&b.index, indices, part))
            })
            .collect();
        let mut out = Vec::with_capacity(wants.len());
        for h in handles {
            out.extend(h.join().expect("decompression thread panicked")?);
        }
        Ok(out)
    })
}

/// One block to decompress and the records wanted from it.
struct Job<'a> {
    comp: &'a [u8],
    open_len: u32,
    kind: usize,
    wants: &'a [(u32, Want)],
}

fn run_jobs(
    index: &Index,
    indices: &[u32],
    jobs: &[Job<'_>],
) -> std::result::Result<Vec<(u32, u8, String)>, Damaged> {
    let mut decoders: [Option<zstd::bulk::Decompressor<'_>>; 3] = Default::default();
    let mut open = Vec::new();
    let mut out = Vec::with_capacity(jobs.iter().map(|j| j.wants.len()).sum());
    for job in jobs {
        let d = match &mut decoders[job.kind] {
            Some(d) => d,
            slot => slot.insert(
                zstd::bulk::Decompressor::with_dictionary(&index.dicts[job.kind])
                    .map_err(|e| Damaged(format!("unusable dictionary: {e}")))?,
            ),
        };
        open.clear();
        open.reserve(job.open_len as usize);
        d.decompress_to_buffer(job.comp, &mut open)
            .map_err(|e| Damaged(format!("a block does not decompress: {e}")))?;
        if open.len() != job.open_len as usize {
            return Err(Damaged("a block has the wrong length".into()));
        }
        for &(_, (j, k)) in job.wants {
            let r = index.recs[job.kind][indices[j as usize] as usize];
            let bytes = &open[r.start as usize..(r.start + r.len) as usize];
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| Damaged("a record is not UTF-8".into()))?;
            out.push((j, k, text));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_str(xml: &str, kind: Kind) -> Result<Scanned> {
        let mut input = io::BufReader::with_capacity(7, xml.as_bytes());
        scan(&mut input, "t.xml", kind)
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

    const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
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
        let s = scan_bounded(&mut input, "fl.xml", Kind::Filelists, xml.len() as u64).unwrap();
        assert_eq!(records(&s).len(), 1);
        // It does not: refused, naming where it starts.
        let mut input = io::BufReader::with_capacity(64, xml.as_bytes());
        let e = scan_bounded(&mut input, "fl.xml", Kind::Filelists, 4096)
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
        assert!(scan_bounded(&mut input, "fl.xml", Kind::Filelists, 4096).is_ok());
    }

    #[test]
    fn matches_filelists_by_pkgid_in_any_order() {
        let primary = scan_str(PRIMARY, Kind::Primary).unwrap();
        let fl = r#"<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="2">
<package pkgid="bb22" name="c" arch="x86_64"><version epoch="2" ver="3" rel="4"/><file>/x</file></package>
<package pkgid="aa11" name="a&amp;b" arch="noarch"><version epoch="0" ver="1" rel="1"/></package>
</filelists>"#;
        let s = scan_str(fl, Kind::Filelists).unwrap();
        let placed = match_to_primary(&primary.idents, &s, "fl.xml").unwrap();
        assert_eq!(placed[0].block, s.blocks.recs[1].block);
        assert_eq!(placed[0].start, s.blocks.recs[1].start);
        assert_eq!(placed[1].start, s.blocks.recs[0].start);

        let wrong = fl.replace("ver=\"3\"", "ver=\"9\"");
        let s = scan_str(&wrong, Kind::Filelists).unwrap();
        let e = match_to_primary(&primary.idents, &s, "fl.xml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fl.xml") && e.contains("c-2:3-4.x86_64") && e.contains("`9`"),
            "{e}"
        );

        let missing = fl.replace("<package pkgid=\"aa11\" name=\"a&amp;b\" arch=\"noarch\"><version epoch=\"0\" ver=\"1\" rel=\"1\"/></package>\n", "");
        let s = scan_str(&missing, Kind::Filelists).unwrap();
        let e = match_to_primary(&primary.idents, &s, "fl.xml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("fl.xml") && e.contains("a&b-1-1.noarch") && e.contains("aa11"),
            "{e}"
        );
    }

    #[test]
    fn minimal_record_escapes() {
        let primary = scan_str(PRIMARY, Kind::Primary).unwrap();
        assert_eq!(
            minimal_record(&primary.idents, 0),
            "<package pkgid=\"aa11\" name=\"a&amp;b\" arch=\"noarch\">\n  <version epoch=\"0\" ver=\"1\" rel=\"1\"/>\n</package>"
        );
    }

    #[test]
    fn index_rejects_out_of_bounds_entries() {
        let block = BlockEntry {
            offset: 16,
            comp_len: 10,
            open_len: 5,
        };
        let rec = |len| RecEntry {
            block: 0,
            start: 0,
            len,
        };
        let good = Index {
            key: "k".into(),
            n: 1,
            blocks: [vec![block], vec![block], vec![block]].map(Pods::from),
            recs: [vec![rec(5)], vec![rec(1)], vec![rec(0)]].map(Pods::from),
            dicts: [vec![1, 2, 3], vec![], vec![]],
        };
        let decode = |index: &Index, data_end: u64| {
            let bytes = index.encode();
            let len = bytes.len();
            Index::decode(&Bytes::Memory(bytes), 0, len, data_end)
        };
        let back = decode(&good, 26).unwrap();
        assert_eq!((back.key.as_str(), back.n), ("k", 1));
        assert_eq!(back.dicts[0], vec![1, 2, 3]);
        assert_eq!(back.recs[1][0].len, 1);
        // The blocks would run past the end of the data.
        assert!(decode(&good, 25)
            .err()
            .unwrap()
            .contains("primary block is out of bounds"));
        // A record longer than its block.
        let mut long = decode(&good, 26).unwrap();
        long.recs[2] = Pods::from(vec![rec(6)]);
        assert!(decode(&long, 26)
            .err()
            .unwrap()
            .contains("other record is out of bounds"));
        // A record in a block that does not exist.
        let mut missing = decode(&good, 26).unwrap();
        missing.blocks[1].clear();
        assert!(decode(&missing, 26)
            .err()
            .unwrap()
            .contains("filelists record names a missing block"));
        let bytes = good.encode();
        let len = bytes.len();
        assert!(Index::decode(&Bytes::Memory(bytes.clone()), 0, len - 1, 26).is_err());
        assert!(Index::decode(&Bytes::Memory(bytes), 8, len - 8, 26).is_err());
    }
}
