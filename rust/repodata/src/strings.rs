//! A compact, append-only string pool: every distinct string once, in one
//! arena, addressed by a dense `StrId`. Id 0 is always the empty string, so
//! "absent" fields (no epoch, no release) cost nothing.

use crate::pods::Pods;
use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Index of a string in a [`StringPool`].
pub type StrId = u32;

/// The empty string's id; used for absent optional fields.
pub(crate) const EMPTY: StrId = 0;

#[derive(Default, Clone)]
pub struct StringPool {
    /// The strings back to back: always valid UTF-8, every end a character
    /// boundary (checked when loaded, and only whole strings are added).
    arena: Pods<u8>,
    /// `ends[i]` is where string `i` ends in the arena; it starts where
    /// string `i - 1` ends.
    ends: Pods<u32>,
    /// Only used while interning; rebuilt lazily after loading from cache.
    table: HashTable<StrId>,
    hasher: rustc_hash::FxBuildHasher,
}

impl std::fmt::Debug for StringPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StringPool({} strings, {} bytes)",
            self.ends.len(),
            self.arena.len()
        )
    }
}

impl StringPool {
    pub fn new() -> Self {
        let mut pool = StringPool::default();
        pool.intern("");
        pool
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    #[inline]
    pub fn get(&self, id: StrId) -> &str {
        let i = id as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        str_at(&self.arena, start, self.ends[i] as usize)
    }

    pub fn intern(&mut self, s: &str) -> StrId {
        if self.table.len() != self.ends.len() {
            self.rebuild_table();
        }
        let hash = self.hasher.hash_one(s);
        let (arena, ends) = (&self.arena, &self.ends);
        let lookup = |&id: &StrId| {
            let i = id as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            &arena[start..ends[i] as usize] == s.as_bytes()
        };
        if let Some(&id) = self.table.find(hash, lookup) {
            return id;
        }
        let id = self.ends.len() as StrId;
        self.arena.extend_from_slice(s.as_bytes());
        self.ends.push(self.arena.len() as u32);
        let hasher = self.hasher;
        let (arena, ends) = (&self.arena, &self.ends);
        self.table.insert_unique(hash, id, |&other| {
            let i = other as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] as usize };
            hasher.hash_one(str_at(arena, start, ends[i] as usize))
        });
        id
    }

    fn rebuild_table(&mut self) {
        let mut table = HashTable::with_capacity(self.ends.len());
        let hasher = self.hasher;
        for id in 0..self.ends.len() as StrId {
            let h = hasher.hash_one(self.get(id));
            let (arena, ends) = (&self.arena, &self.ends);
            table.insert_unique(h, id, |&other| {
                let i = other as usize;
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                hasher.hash_one(str_at(arena, start, ends[i] as usize))
            });
        }
        self.table = table;
    }

    /// The raw parts, for the cache.
    pub(crate) fn parts(&self) -> (&str, &[u32]) {
        (str_at(&self.arena, 0, self.arena.len()), &self.ends)
    }

    /// A pool over an arena and ends as loaded (perhaps mapped from a cache
    /// file), checked so that `get` can never slice out of bounds or split
    /// a UTF-8 sequence.
    pub(crate) fn from_pods(arena: Pods<u8>, ends: Pods<u32>) -> Option<Self> {
        // SIMD: a compose checks the arena of every repository it maps
        // from the cache (the platform's, every layer's).
        let text = simdutf8::basic::from_utf8(&arena).ok()?;
        // Ends in order (a fold without early exit, which the compiler
        // vectorizes: a compose checks millions of them), the last within
        // the arena (checked below), each on a character boundary, which
        // in ASCII text (most metadata) every offset is.
        let ordered = ends.windows(2).fold(true, |ok, w| ok & (w[0] <= w[1]));
        if !ordered
            || (!text.is_ascii() && !ends.iter().all(|&e| text.is_char_boundary(e as usize)))
        {
            return None;
        }
        // Id 0 is the empty string, and the arena holds nothing past the
        // last string (new strings are appended there).
        if ends.first() != Some(&0) || ends.last().map(|&e| e as usize) != Some(text.len()) {
            return None;
        }
        Some(StringPool {
            arena,
            ends,
            table: HashTable::new(),
            hasher: Default::default(),
        })
    }
}

/// The string at `start..end` of an arena.
#[inline]
fn str_at(arena: &[u8], start: usize, end: usize) -> &str {
    let bytes = &arena[start..end];
    // Safe because a pool's arena is valid UTF-8 and its ends are character
    // boundaries: checked by `from_pods` for a loaded arena, kept by
    // `intern`, which appends whole strings. A mapped arena is a cache file
    // that is never changed in place (cache files are written aside and
    // renamed over).
    unsafe { std::str::from_utf8_unchecked(bytes) }
}

#[cfg(test)]
mod test {
    use super::*;

    fn from_parts(arena: String, ends: Vec<u32>) -> Option<StringPool> {
        StringPool::from_pods(Pods::from(arena.into_bytes()), Pods::from(ends))
    }

    #[test]
    fn interns_once() {
        let mut p = StringPool::new();
        assert_eq!(p.get(EMPTY), "");
        let a = p.intern("httpd");
        let b = p.intern("mod_ssl");
        assert_eq!(p.intern("httpd"), a);
        assert_ne!(a, b);
        assert_eq!(p.get(b), "mod_ssl");
        assert_eq!(p.intern(""), EMPTY);
        let (arena, ends) = p.parts();
        let mut q = from_parts(arena.to_string(), ends.to_vec()).unwrap();
        assert_eq!(q.intern("mod_ssl"), b, "table rebuilt after loading");
        assert_eq!(q.intern("new"), 3);
        assert!(from_parts("ab".into(), vec![0, 5]).is_none());
        assert!(
            from_parts("abjunk".into(), vec![0, 2]).is_none(),
            "trailing bytes"
        );
    }
}
