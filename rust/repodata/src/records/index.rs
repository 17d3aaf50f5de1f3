//! The record store's image: the blocks of primary, filelists and other,
//! and the index that says where each package's records lie, as one file
//! in the cache directory (or one buffer in memory).
//!
//! Layout, in the frame of `cache_file` (integers little endian): the
//! header; the blocks of primary, filelists and other; zero bytes to a
//! multiple of eight; the index (key, package count, then per file:
//! dictionary, block table, record table; each part padded to a multiple
//! of eight, so the tables are read in place); the footer, which locates
//! the index and holds its CRC. The index is checked against its CRC and
//! bounds-checked when the file is opened, so that reading records never
//! goes out of bounds; the blocks check themselves when read (`blocks`).

use super::blocks::{BlockEntry, Blocks, RecEntry, MAX_OPEN_BLOCK};
use super::Kind;
use crate::cache_file::{self, CacheFileError, Format, Image, HEADER_LEN};
use crate::pods::Pods;
use std::io::{self, Write};

pub(super) const FORMAT: Format = Format {
    magic: b"STRATRC\0",
    // 2: the index stored open and aligned (read in place), with a CRC.
    // 3: only records that passed the checks of `wellformed` (older
    // stores may hold entity references that do not survive publishing).
    // 4: only records read within `limits` (the file's `<open-size>`
    // matched, no record or XML token past its bound), which a store of 3
    // was not checked against.
    version: 4,
    what: "record store",
};

/// The parsed index of a store image. Its tables are read in place from a
/// mapped cache file.
pub(super) struct Index {
    /// The checksums of the three files the store was built from.
    pub key: String,
    /// Packages, in primary order.
    pub n: usize,
    pub blocks: [Pods<BlockEntry>; 3],
    pub recs: [Pods<RecEntry>; 3],
    /// The zstd dictionary of each kind's blocks (may be empty).
    pub dicts: [Vec<u8>; 3],
}

/// Zero bytes up to the next multiple of eight, so that the tables that
/// follow are aligned (the index starts aligned).
fn pad8(out: &mut Vec<u8>) {
    out.resize(out.len().next_multiple_of(8), 0);
}

fn damaged(reason: String) -> CacheFileError {
    CacheFileError::Damaged(reason)
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

    /// Decodes and bounds-checks the index at `at..at + len` of `image`;
    /// `data_end` is where the blocks region ends.
    fn decode(
        image: &Image,
        at: usize,
        len: usize,
        data_end: u64,
    ) -> Result<Index, CacheFileError> {
        let end = at
            .checked_add(len)
            .ok_or(CacheFileError::CutShort("the index"))?;
        let mut c = image.cursor(at, end)?;
        let key_len = c.len()?;
        let key = std::str::from_utf8(c.take(key_len)?)
            .map_err(|_| damaged("the key is not UTF-8".into()))?
            .to_string();
        c.pad8()?;
        let n = c.len()?;
        let mut blocks: [Pods<BlockEntry>; 3] = Default::default();
        let mut recs: [Pods<RecEntry>; 3] = Default::default();
        let mut dicts: [Vec<u8>; 3] = Default::default();
        for k in 0..3 {
            let dict_len = c.len()?;
            dicts[k] = c.take(dict_len)?.to_vec();
            c.pad8()?;
            let nb = c.len()?;
            blocks[k] = c.table(nb)?;
            recs[k] = c.table(n)?;
            c.pad8()?;
        }
        if !c.is_done() {
            return Err(damaged("trailing bytes after the index".into()));
        }
        for k in 0..3 {
            let mdtype = Kind::ALL[k].mdtype();
            for b in blocks[k].iter() {
                let end = b.offset.checked_add(u64::from(b.comp_len));
                if b.offset < HEADER_LEN as u64
                    || end.is_none_or(|e| e > data_end)
                    || b.open_len > MAX_OPEN_BLOCK
                {
                    return Err(damaged(format!("a {mdtype} block is out of bounds")));
                }
            }
            for r in recs[k].iter() {
                let Some(b) = blocks[k].get(r.block as usize) else {
                    return Err(damaged(format!("a {mdtype} record names a missing block")));
                };
                if u64::from(r.start) + u64::from(r.len) > u64::from(b.open_len) {
                    return Err(damaged(format!("a {mdtype} record is out of bounds")));
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

/// A store image with its checked index.
pub(super) struct Backing {
    pub image: Image,
    pub index: Index,
}

impl Backing {
    /// Serializes a freshly built index and blocks into one image, written
    /// to `out` piece by piece.
    pub(super) fn write_image(
        out: &mut dyn Write,
        key: &str,
        regions: &[Blocks; 3],
        recs: &[Vec<RecEntry>; 3],
        n: usize,
    ) -> io::Result<()> {
        FORMAT.write_header(out)?;
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
        cache_file::pad8(out, at)?;
        FORMAT.write_toc(out, at.next_multiple_of(8), &index.encode())
    }

    /// Checks the frame and the index of an image.
    pub(super) fn open(image: Image) -> Result<Backing, CacheFileError> {
        let (at, len) = FORMAT.check_toc(image.bytes())?;
        let index = Index::decode(&image, at, len, at as u64)?;
        Ok(Backing { image, index })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Index::decode(&Image::Memory(bytes), 0, len, data_end)
        };
        let back = decode(&good, 26).unwrap();
        assert_eq!((back.key.as_str(), back.n), ("k", 1));
        assert_eq!(back.dicts[0], vec![1, 2, 3]);
        assert_eq!(back.recs[1][0].len, 1);
        // The blocks would run past the end of the data.
        assert!(decode(&good, 25)
            .err()
            .unwrap()
            .to_string()
            .contains("primary block is out of bounds"));
        // A record longer than its block.
        let mut long = decode(&good, 26).unwrap();
        long.recs[2] = Pods::from(vec![rec(6)]);
        assert!(decode(&long, 26)
            .err()
            .unwrap()
            .to_string()
            .contains("other record is out of bounds"));
        // A record in a block that does not exist.
        let mut missing = decode(&good, 26).unwrap();
        missing.blocks[1].clear();
        assert!(decode(&missing, 26)
            .err()
            .unwrap()
            .to_string()
            .contains("filelists record names a missing block"));
        let bytes = good.encode();
        let len = bytes.len();
        assert!(Index::decode(&Image::Memory(bytes.clone()), 0, len - 1, 26).is_err());
        assert!(Index::decode(&Image::Memory(bytes), 8, len - 8, 26).is_err());
    }
}
