//! Records compressed into small zstd blocks, and read back out of them.
//!
//! Each file's first records train a zstd dictionary; with it, blocks of a
//! few packages compress as well as large blocks would without one, and a
//! read decompresses little more than what it returns. Every block is a
//! zstd frame with a content checksum, so a damaged block is noticed when
//! it is read. Compressing may run on a thread of its own (`Sink`), so that
//! cutting records (and, for primary, parsing) overlaps it.

use super::index::{Backing, Index};
use super::PackageRecords;
use crate::cache_file::CacheFileError;
use bytemuck::{Pod, Zeroable};
use std::io;

/// A block is closed at whichever comes first (packages: see
/// `Kind::block_packages`). Small blocks keep the work of `get_many` close to
/// the size of what it returns.
pub(super) const BLOCK_BYTES: usize = 16 << 10;
/// zstd level 1: on bookworm a sixth less compression work than 3 for
/// blocks 1-6% larger, and they decompress as fast.
const LEVEL: i32 = 1;
/// The first records of each file train its dictionary.
const SAMPLE_BYTES: usize = 256 << 10;
const MIN_SAMPLE_BYTES: usize = 64 << 10;
const DICT_BYTES: usize = 32 << 10;
/// Sanity limit for a block.
pub(super) const MAX_OPEN_BLOCK: u32 = 1 << 30;
/// Above this much decompression `get_many` uses a second thread.
const PARALLEL_BYTES: u64 = 4 << 20;

/// A block of records in the cache image.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(super) struct BlockEntry {
    pub offset: u64,
    pub comp_len: u32,
    pub open_len: u32,
}

/// Where one record lives: a block and a range in its decompressed bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub(super) struct RecEntry {
    pub block: u32,
    pub start: u32,
    pub len: u32,
}

/// No block (a record not placed yet).
pub(super) const UNSET: u32 = u32::MAX;

/// Records compressed into blocks as they arrive. The first records of a
/// file train a zstd dictionary first: with it, blocks of a few packages
/// compress as well as large blocks would without one.
pub(super) struct Blocks {
    pub region: Vec<u8>,
    pub entries: Vec<BlockEntry>,
    pub recs: Vec<RecEntry>,
    open: Vec<u8>,
    in_block: u32,
    per_block: u32,
    scratch: Vec<u8>,
    /// `None` while the first records are collected for training.
    compressor: Option<zstd::bulk::Compressor<'static>>,
    pub dict: Vec<u8>,
    sample: Vec<u8>,
    sample_lens: Vec<usize>,
}

impl Blocks {
    pub(super) fn new(per_block: u32) -> Blocks {
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

    pub(super) fn push(&mut self, record: &[u8]) -> io::Result<()> {
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

    pub(super) fn finish(mut self) -> io::Result<Blocks> {
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
pub(super) enum Sink {
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
    pub(super) fn new(threaded: bool, per_block: u32) -> Sink {
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

    pub(super) fn push(&mut self, record: &[u8]) -> io::Result<()> {
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

    pub(super) fn finish(mut self) -> io::Result<Blocks> {
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

/// A block to decompress: kind, block number.
type BlockRef = (usize, u32);

/// A record to copy out of a decompressed block: output position, kind.
type Want = (u32, u8);

/// The records of the packages at `indices` out of an image: decompresses
/// each block needed once, in file order.
pub(super) fn read_records(
    b: &Backing,
    indices: &[u32],
) -> Result<Vec<PackageRecords>, CacheFileError> {
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
) -> Result<Vec<(u32, u8, String)>, CacheFileError> {
    let entry = |&(k, blk): &BlockRef| b.index.blocks[k][blk as usize];
    let all = b.image.bytes();
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
) -> Result<Vec<(u32, u8, String)>, CacheFileError> {
    let mut decoders: [Option<zstd::bulk::Decompressor<'_>>; 3] = Default::default();
    let mut open = Vec::new();
    let mut out = Vec::with_capacity(jobs.iter().map(|j| j.wants.len()).sum());
    for job in jobs {
        let d = match &mut decoders[job.kind] {
            Some(d) => d,
            slot => slot.insert(
                zstd::bulk::Decompressor::with_dictionary(&index.dicts[job.kind])
                    .map_err(CacheFileError::Block)?,
            ),
        };
        open.clear();
        open.reserve(job.open_len as usize);
        d.decompress_to_buffer(job.comp, &mut open)
            .map_err(CacheFileError::Block)?;
        if open.len() != job.open_len as usize {
            return Err(CacheFileError::Damaged(
                "a block has the wrong length".into(),
            ));
        }
        for &(_, (j, k)) in job.wants {
            let r = index.recs[job.kind][indices[j as usize] as usize];
            let bytes = &open[r.start as usize..(r.start + r.len) as usize];
            let text = String::from_utf8(bytes.to_vec())
                .map_err(|_| CacheFileError::Damaged("a record is not UTF-8".into()))?;
            out.push((j, k, text));
        }
    }
    Ok(out)
}
