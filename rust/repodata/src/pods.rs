//! A vector of plain-old-data records that either owns its memory or reads
//! it in place from a mapped cache file. A repository loaded from the cache
//! maps the file instead of copying 30 MB out of it: the page cache's pages
//! are used as they are, with no copy and a fraction of the page faults.
//! Any change turns a mapped vector into an owned one first.
//!
//! It reads like a slice (`Deref`) and grows like a `Vec` (`push`,
//! `append`, `reserve`, `clear`), so code written against `Vec` fields keeps
//! working.

use bytemuck::Pod;
use memmap2::Mmap;
use std::sync::Arc;

pub struct Pods<T: Pod> {
    /// The records: into `owned`'s buffer, or into `map`. Kept in step by
    /// every method that changes them.
    ptr: *const T,
    len: usize,
    owned: Vec<T>,
    map: Option<Arc<Mmap>>,
}

// Safe because a `Pods` is either a `Vec<T>` or a shared read-only map, and
// both may be sent and shared between threads when `T` may (`Pod` types
// hold no references).
unsafe impl<T: Pod + Send> Send for Pods<T> {}
// Safe because of the same reasoning as for `Send`.
unsafe impl<T: Pod + Sync> Sync for Pods<T> {}

impl<T: Pod> Pods<T> {
    pub const fn new() -> Self {
        Pods {
            ptr: std::ptr::NonNull::dangling().as_ptr(),
            len: 0,
            owned: Vec::new(),
            map: None,
        }
    }

    /// `len` records at byte `offset` of `map`; `None` when they are not
    /// inside it or not aligned for `T`.
    pub(crate) fn mapped(map: &Arc<Mmap>, offset: usize, len: usize) -> Option<Self> {
        let bytes = len.checked_mul(std::mem::size_of::<T>())?;
        let end = offset.checked_add(bytes)?;
        let region = map.get(offset..end)?;
        let records: &[T] = bytemuck::try_cast_slice(region).ok()?;
        Some(Pods {
            ptr: records.as_ptr(),
            len,
            owned: Vec::new(),
            map: Some(map.clone()),
        })
    }

    /// Whether the records are read from a mapped file.
    pub fn is_mapped(&self) -> bool {
        self.map.is_some()
    }

    pub fn as_slice(&self) -> &[T] {
        // Safe because `ptr` and `len` always describe live, initialized,
        // aligned records: `owned`'s (refreshed after each change to it) or
        // a range of `map` checked by `mapped` and kept alive by the `Arc`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }

    /// The owned vector to change, copying mapped records out first; the
    /// view is refreshed after `f`.
    fn change<R>(&mut self, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
        if self.map.is_some() {
            self.owned = self.as_slice().to_vec();
            self.map = None;
        }
        let r = f(&mut self.owned);
        self.ptr = self.owned.as_ptr();
        self.len = self.owned.len();
        r
    }

    pub fn push(&mut self, value: T) {
        self.change(|v| v.push(value));
    }

    pub fn append(&mut self, other: &mut Vec<T>) {
        self.change(|v| v.append(other));
    }

    pub fn extend_from_slice(&mut self, other: &[T]) {
        self.change(|v| v.extend_from_slice(other));
    }

    pub fn reserve(&mut self, additional: usize) {
        self.change(|v| v.reserve(additional));
    }

    pub fn clear(&mut self) {
        self.change(Vec::clear);
    }

    pub fn truncate(&mut self, len: usize) {
        self.change(|v| v.truncate(len));
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self.change(|_| ());
        self.owned.as_mut_slice()
    }

    pub fn into_vec(mut self) -> Vec<T> {
        self.change(|_| ());
        std::mem::take(&mut self.owned)
    }
}

impl<T: Pod> Default for Pods<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Pod> From<Vec<T>> for Pods<T> {
    fn from(owned: Vec<T>) -> Self {
        Pods {
            ptr: owned.as_ptr(),
            len: owned.len(),
            owned,
            map: None,
        }
    }
}

impl<T: Pod> Clone for Pods<T> {
    /// Mapped records are shared, not copied.
    fn clone(&self) -> Self {
        match &self.map {
            Some(map) => Pods {
                ptr: self.ptr,
                len: self.len,
                owned: Vec::new(),
                map: Some(map.clone()),
            },
            None => Pods::from(self.owned.clone()),
        }
    }
}

impl<T: Pod> std::ops::Deref for Pods<T> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Pod> std::ops::DerefMut for Pods<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<'a, T: Pod> IntoIterator for &'a Pods<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<T: Pod + std::fmt::Debug> std::fmt::Debug for Pods<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

impl<T: Pod + PartialEq> PartialEq for Pods<T> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<T: Pod + Eq> Eq for Pods<T> {}

impl<T: Pod + PartialEq> PartialEq<Vec<T>> for Pods<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::io::Write;

    #[test]
    fn mapped_records_read_in_place_and_turn_owned_on_change() {
        let mut file = tempfile::tempfile().unwrap();
        let words: Vec<u32> = (0..1000).collect();
        file.write_all(&[0u8; 8]).unwrap();
        file.write_all(bytemuck::cast_slice(&words)).unwrap();
        // Safe because the test's own temporary file is not changed while
        // mapped.
        let map = Arc::new(unsafe { Mmap::map(&file) }.unwrap());
        let mut p: Pods<u32> = Pods::mapped(&map, 8, 1000).unwrap();
        assert!(p.is_mapped());
        assert_eq!(&p[..], &words[..]);
        let shared = p.clone();
        assert!(shared.is_mapped());
        p.push(1000);
        assert!(!p.is_mapped());
        assert_eq!(p.len(), 1001);
        assert_eq!(p[1000], 1000);
        assert_eq!(&shared[..], &words[..]);
        // Out of the map, or misaligned: refused.
        assert!(Pods::<u32>::mapped(&map, 8, 1001).is_none());
        assert!(Pods::<u32>::mapped(&map, 6, 10).is_none());
        assert!(Pods::<u32>::mapped(&map, usize::MAX - 2, 10).is_none());
        let mut owned = Pods::from(vec![1u32, 2]);
        owned.append(&mut vec![3]);
        owned.extend_from_slice(&[4]);
        owned[0] = 9;
        assert_eq!(owned, vec![9, 2, 3, 4]);
        assert_eq!(Pods::<u32>::default().len(), 0);
    }
}
