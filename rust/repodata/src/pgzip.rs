//! A gzip writer that compresses on every core, as pigz does: the input is
//! cut into fixed blocks, each deflated on its own thread with the 32 KiB
//! before it as its dictionary and ended with a sync flush, so the blocks
//! concatenate into one deflate stream in one gzip member that any gunzip
//! reads. The output depends on the block size and level only, never on
//! the number of threads or on how the input was written, so a
//! repository's checksums and an image's layer digest stay reproducible.
//!
//! The workspace's one parallel gzip writer: for large repodata files
//! (primary, filelists, other; write.rs) and container layers (the
//! compose crate's artifact/oci.rs), whose single-threaded deflate took
//! most of their time.
//!
//! Input that deflate cannot shrink (already-compressed files: `.gz`
//! man pages, `.xz` modules, images, random test content) costs zlib its
//! full search and then comes out as stored blocks anyway. So each
//! [`CHUNK`] of a block whose bytes are spread near-evenly over all 256
//! values (order-0 entropy at least [`STORE_ENTROPY`] bits a byte) is
//! written as a stored block at once, as deflate allows, and the rest is
//! deflated as before. The choice depends on the chunk's bytes only, so
//! the output stays reproducible. Its cost: a byte histogram per chunk.
//! Its risk: data with even bytes that LZ77 could still shrink (a random
//! block repeated) is stored; measured on real content (binaries, text,
//! `.gz`, `.png`) no chunk over the threshold deflated by more than 3 %.
//! Repodata is XML text (well below 7.5 bits a byte): never stored.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::io::{self, Write};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Input per block: large enough that a block's flush costs nothing,
/// small enough that a batch stays a few MiB of memory.
pub(crate) const BLOCK: usize = 1 << 20;
/// Deflate's window: the dictionary a block takes from the one before.
const WINDOW: usize = 32 * 1024;
/// The unit of the store-or-deflate choice: small enough to follow a
/// file's edges in a tar stream, within one stored block's 65,535 bytes.
const CHUNK: usize = 32 * 1024;
/// Order-0 entropy (bits a byte) from which a chunk is stored: random
/// bytes measure about 7.99 over a chunk, compressed files 7.95 to 7.99,
/// binaries and text below 7.5.
const STORE_ENTROPY: f64 = 7.95;

/// A block's thread: the block deflated, and the CRC-32 of its input.
type Deflating = JoinHandle<io::Result<(Vec<u8>, Crc)>>;

/// A gzip stream (mtime 0, no name) of what is written, deflated on
/// `threads` threads; [`ParallelGz::finish`] ends it and gives back the
/// writer underneath.
///
/// Blocks go out in batches of `threads`: a full batch is handed to its
/// threads and the caller goes on writing the next one while they
/// deflate it (what the caller does to make its input, hashing it say,
/// overlaps the deflate); the batch before is waited for then, and
/// written out in order.
pub struct ParallelGz<W: Write> {
    inner: W,
    level: Compression,
    threads: usize,
    /// The last [`WINDOW`] bytes of input already handed out (`dict_len`
    /// of them: fewer at the start), the first block's dictionary; then
    /// the input not handed out yet, up to `threads` blocks.
    pending: Vec<u8>,
    dict_len: usize,
    /// The batch being deflated, a thread a block, in order, and its
    /// input.
    in_flight: Vec<Deflating>,
    in_flight_input: Option<Arc<Vec<u8>>>,
    /// A batch's input buffer once deflated, for the next batch (fresh
    /// memory faults every page in again).
    spare: Option<Vec<u8>>,
    crc: Crc,
}

impl<W: Write> ParallelGz<W> {
    /// Writes the gzip header to `inner`; `level` is zlib's, `threads`
    /// how many blocks make a batch (at most two batches are held in
    /// memory and deflated at once).
    pub fn new(mut inner: W, level: Compression, threads: usize) -> io::Result<Self> {
        // ID1 ID2 CM=deflate FLG=0, MTIME=0, XFL=0, OS=255 (unknown).
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255])?;
        let threads = threads.max(1);
        Ok(ParallelGz {
            inner,
            level,
            threads,
            pending: Vec::with_capacity(WINDOW + threads * BLOCK),
            dict_len: 0,
            in_flight: Vec::new(),
            in_flight_input: None,
            spare: None,
            crc: Crc::new(),
        })
    }

    /// Hands the pending input to a thread a block, then waits for the
    /// batch before and writes it out.
    fn send_pending(&mut self) -> io::Result<()> {
        let mut next = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(WINDOW + self.threads * BLOCK));
        next.clear();
        next.extend_from_slice(&self.pending[self.pending.len().saturating_sub(WINDOW)..]);
        let batch = Arc::new(std::mem::replace(&mut self.pending, next));
        let start = std::mem::replace(&mut self.dict_len, self.pending.len());
        let level = self.level;
        let mut handles = Vec::with_capacity(self.threads);
        for from in (start..batch.len()).step_by(BLOCK) {
            let batch = Arc::clone(&batch);
            let handle = std::thread::Builder::new()
                .name("strata-pgzip".into())
                .spawn(move || {
                    let block = &batch[from..(from + BLOCK).min(batch.len())];
                    // The 32 KiB before the block: the last batch's tail
                    // for the first, the block before's for the others.
                    let dict = &batch[from.saturating_sub(WINDOW)..from];
                    let mut crc = Crc::new();
                    crc.update(block);
                    Ok((deflate_block(block, dict, level)?, crc))
                })?;
            handles.push(handle);
        }
        let done = std::mem::replace(&mut self.in_flight, handles);
        let done_input = self.in_flight_input.replace(batch);
        self.write_out(done)?;
        // Its threads are done with it.
        self.spare = done_input.and_then(|input| Arc::try_unwrap(input).ok());
        Ok(())
    }

    /// Waits for `batch`'s blocks and writes them out in order.
    fn write_out(&mut self, batch: Vec<Deflating>) -> io::Result<()> {
        for handle in batch {
            let (out, crc) = handle.join().expect("a deflate thread does not panic")?;
            self.crc.combine(&crc);
            self.inner.write_all(&out)?;
        }
        Ok(())
    }

    /// Ends the stream (last blocks, an empty final block, CRC-32 and
    /// size) and gives back the writer, not flushed. The final block is
    /// always an empty one, so where the input's last block falls in a
    /// batch changes nothing.
    pub fn finish(mut self) -> io::Result<W> {
        self.send_pending()?;
        let last = std::mem::take(&mut self.in_flight);
        self.write_out(last)?;
        self.inner
            .write_all(&deflate_run(&[], &[], true, self.level)?)?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        trailer[4..].copy_from_slice(&self.crc.amount().to_le_bytes());
        self.inner.write_all(&trailer)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ParallelGz<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let full = self.dict_len + self.threads * BLOCK;
        let n = buf.len().min(full - self.pending.len());
        self.pending.extend_from_slice(&buf[..n]);
        if self.pending.len() == full {
            self.send_pending()?;
        }
        Ok(n)
    }

    /// Blocks are only deflated whole (the output must not depend on how
    /// the input was written); this flushes what is already written out.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// One block, ending byte-aligned (so the next block's output follows
/// it): runs of chunks deflate cannot shrink as stored blocks, the other
/// runs deflated with the 32 KiB before them as dictionary (`dict`, then
/// the block's own bytes).
fn deflate_block(data: &[u8], dict: &[u8], level: Compression) -> io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 256);
    let stored: Vec<bool> = data.chunks(CHUNK).map(incompressible).collect();
    let mut k = 0;
    while k < stored.len() {
        let store = stored[k];
        let n = stored[k..].iter().take_while(|&&s| s == store).count();
        let (start, end) = (k * CHUNK, ((k + n) * CHUNK).min(data.len()));
        k += n;
        let run = &data[start..end];
        if store {
            for piece in run.chunks(usize::from(u16::MAX)) {
                // BFINAL=0, BTYPE=00 (stored), padded to the byte; then
                // LEN and its one's complement, little-endian.
                let len = piece.len() as u16;
                out.push(0);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(&(!len).to_le_bytes());
                out.extend_from_slice(piece);
            }
        } else {
            let before: &[u8] = if start == 0 {
                dict
            } else {
                &data[start.saturating_sub(WINDOW)..start]
            };
            out.extend_from_slice(&deflate_run(run, before, false, level)?);
        }
    }
    Ok(out)
}

/// Whether `chunk`'s bytes are spread so evenly that deflate cannot
/// shrink it: order-0 entropy at least [`STORE_ENTROPY`].
fn incompressible(chunk: &[u8]) -> bool {
    // Fewer bytes than values cannot measure near 8 bits; such a tail is
    // deflated.
    if chunk.len() < 4096 {
        return false;
    }
    // A byte value that makes 4 % of the chunk caps the entropy at
    // h(0.04) + 0.96 log2(255) = 7.92 bits: below the threshold whatever
    // the rest. The likeliest such value, the most common of the first
    // KiB, is counted alone first (a comparison the compiler vectorizes):
    // for text, repodata's XML included, that decides.
    let mut first = [0u32; 256];
    count_bytes(&chunk[..1024], &mut first);
    let likeliest = (0..=255u8)
        .max_by_key(|&v| first[usize::from(v)])
        .unwrap_or(0);
    if count_value(chunk, likeliest) * 25 >= chunk.len() {
        return false;
    }
    let mut counts = [0u32; 256];
    count_bytes(chunk, &mut counts);
    let n = chunk.len() as f64;
    let entropy: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    entropy >= STORE_ENTROPY
}

/// How many of `bytes` are `value`: in 255-byte pieces, so that the
/// comparisons add up in byte lanes.
fn count_value(bytes: &[u8], value: u8) -> usize {
    bytes
        .chunks(255)
        .map(|piece| {
            let n: u8 = piece.iter().map(|&b| u8::from(b == value)).sum();
            usize::from(n)
        })
        .sum()
}

/// Adds `bytes`' histogram to `counts`, in four tables so that runs of
/// one value do not wait on the same counter.
fn count_bytes(bytes: &[u8], counts: &mut [u32; 256]) {
    let mut four = [[0u32; 256]; 4];
    let mut quads = bytes.chunks_exact(4);
    for q in &mut quads {
        four[0][usize::from(q[0])] += 1;
        four[1][usize::from(q[1])] += 1;
        four[2][usize::from(q[2])] += 1;
        four[3][usize::from(q[3])] += 1;
    }
    for &b in quads.remainder() {
        four[0][usize::from(b)] += 1;
    }
    for (v, c) in counts.iter_mut().enumerate() {
        *c += four[0][v] + four[1][v] + four[2][v] + four[3][v];
    }
}

/// Raw deflate of `data` with `dict` as its dictionary, ended with a
/// sync flush, or as the stream's final block.
fn deflate_run(data: &[u8], dict: &[u8], last: bool, level: Compression) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(level, false);
    if !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 256);
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let from = c.total_in() as usize;
        let status = c
            .compress_vec(&data[from..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // A sync flush is complete when the compressor stopped with
            // room left in the output.
            _ if !last && all_in && out.len() < out.capacity() => return Ok(out),
            _ => {}
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Read;

    fn gz(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut w = ParallelGz::new(Vec::new(), Compression::default(), threads).unwrap();
        for piece in data.chunks(chunk.max(1)) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    /// Compressible text with repeats across block edges, then noise.
    fn sample(len: usize) -> Vec<u8> {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        (0..len)
            .map(|i| {
                if i < len / 2 {
                    b"strata layer "[i % 13] ^ ((i / 70_000) as u8 & 1)
                } else {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                }
            })
            .collect()
    }

    #[test]
    fn any_gunzip_reads_it_back_whole() {
        for len in [
            0,
            1,
            WINDOW,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            3 * BLOCK + 12_345,
        ] {
            let data = sample(len);
            let z = gz(&data, 2, 100_003);
            assert_eq!(gunzip(&z), data, "length {len}");
            // One member: the header once, the trailer's size right.
            assert_eq!(&z[..3], &[0x1f, 0x8b, 8]);
            let size = u32::from_le_bytes(z[z.len() - 4..].try_into().unwrap());
            assert_eq!(size as usize, len);
        }
        // And the system's gzip agrees (what skopeo and umoci use is the
        // same format).
        let data = sample(2 * BLOCK + 7);
        assert_eq!(system_gunzip(&gz(&data, 3, 4096)), data);
    }

    /// What the system's `gzip -dc` makes of `bytes`.
    fn system_gunzip(bytes: &[u8]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("layer.gz");
        std::fs::write(&file, bytes).unwrap();
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success());
        out.stdout
    }

    #[test]
    fn what_deflate_cannot_shrink_is_stored_not_searched() {
        let data = sample(8 * BLOCK);
        let noise = &data[4 * BLOCK..];
        assert!(incompressible(&noise[..CHUNK]));
        assert!(!incompressible(&data[..CHUNK]));
        // This test's own compiled code: a binary, deflated.
        let mut exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        exe.truncate(4 * BLOCK);
        let deflated = exe
            .chunks(CHUNK)
            .filter(|c| c.len() == CHUNK && !incompressible(c))
            .count();
        assert!(deflated * 10 > exe.len() / CHUNK * 9, "{deflated} chunks");
        // Noise costs the stored blocks' 5-byte headers, one per 65,535
        // bytes, where zlib's level 6 gives about 0.04 % more.
        let z = gz(noise, 2, 1 << 16);
        let headers = noise.len() / usize::from(u16::MAX) + 2 * noise.len() / BLOCK;
        assert!(
            z.len() <= noise.len() + 5 * headers + 64,
            "{} bytes for {}",
            z.len(),
            noise.len()
        );
        assert_eq!(gunzip(&z), noise);
        // Noise and text mixed off the chunk edges: runs of each kind,
        // read back by any gunzip, and on any number of threads the same.
        let mut mixed = Vec::new();
        for k in 0..12 {
            let from = if k % 2 == 0 { 4 * BLOCK } else { 0 } + k * 50_000;
            mixed.extend_from_slice(&data[from..from + 70_001]);
        }
        let one = gz(&mixed, 1, 4096);
        assert_eq!(gz(&mixed, 3, 1 << 16), one);
        assert_eq!(gunzip(&one), mixed);
        assert_eq!(system_gunzip(&one), mixed);
    }

    /// The entropy of `chunk` counted whole, as the bound's shortcut
    /// must agree with.
    fn entropy(chunk: &[u8]) -> f64 {
        let mut counts = [0u32; 256];
        chunk.iter().for_each(|&b| counts[usize::from(b)] += 1);
        let n = chunk.len() as f64;
        counts
            .iter()
            .filter(|&&c| c > 0)
            .map(|&c| -(f64::from(c) / n) * (f64::from(c) / n).log2())
            .sum()
    }

    #[test]
    fn the_shortcut_for_text_decides_as_the_whole_count() {
        let data = sample(4 * BLOCK);
        let noise = &data[2 * BLOCK..];
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let xml: Vec<u8> = (0..20_000u32)
            .flat_map(|i| {
                format!("<entry name=\"p{i}\" ver=\"{}\"/>\n", i * 7919 % 6007).into_bytes()
            })
            .collect();
        // Noise with one value at 3 % to 6 % of the chunk: near the bound
        // (4 %), on either side.
        let mut skewed = Vec::new();
        for share in [30, 38, 42, 60] {
            let mut c = noise[..CHUNK].to_vec();
            for (k, b) in c.iter_mut().enumerate() {
                if k * 1000 % (1000 * 1000 / share) < 1000 {
                    *b = 0x20;
                }
            }
            skewed.push(c);
        }
        let chunks = noise
            .chunks(CHUNK)
            .chain(exe.chunks(CHUNK).take(200))
            .chain(xml.chunks(CHUNK))
            .chain(skewed.iter().map(Vec::as_slice))
            .filter(|c| c.len() >= 4096);
        let (mut stored, mut all) = (0, 0);
        for c in chunks {
            let want = entropy(c) >= STORE_ENTROPY;
            assert_eq!(incompressible(c), want, "entropy {}", entropy(c));
            stored += usize::from(want);
            all += 1;
        }
        // Both decisions were made.
        assert!(stored > 10 && stored < all, "{stored} of {all}");
    }

    #[test]
    fn the_bytes_do_not_depend_on_threads_or_write_sizes() {
        let data = sample(5 * BLOCK + 999);
        let one = gz(&data, 1, data.len());
        assert_eq!(gz(&data, 2, 1 << 16), one);
        assert_eq!(gz(&data, 4, 777), one);
        // Input that ends on a block edge, inside a batch or at its end.
        for blocks in [2, 3, 4] {
            let data = &data[..blocks * BLOCK];
            assert_eq!(gz(data, 2, 1 << 16), gz(data, 1, 4096), "{blocks} blocks");
        }
        // The dictionary carries matches across blocks: the compressible
        // half compresses as well as in one stream (within the flushes).
        let mut single = flate2::write::GzEncoder::new(Vec::new(), Compression::default());
        single.write_all(&data[..data.len() / 2]).unwrap();
        let single = single.finish().unwrap();
        let par = gz(&data[..data.len() / 2], 2, 1 << 16);
        assert!(
            par.len() < single.len() + 64 * 8,
            "{} vs {}",
            par.len(),
            single.len()
        );
    }
}
