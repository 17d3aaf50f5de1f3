//! libsolv's growable id array, used for jobs, decisions and rule lists.

use libsolv_sys::ffi;
use std::ptr;

/// An owned libsolv `Queue`. It holds no pointers into itself, so it may
/// move; its buffer is freed on drop.
pub(super) struct Queue {
    raw: ffi::Queue,
}

impl Queue {
    pub(super) fn new() -> Queue {
        let mut raw = ffi::Queue {
            elements: ptr::null_mut(),
            count: 0,
            alloc: ptr::null_mut(),
            left: 0,
        };
        // Safe because queue_init only writes the struct it is given.
        unsafe { ffi::queue_init(&mut raw) };
        Queue { raw }
    }

    pub(super) fn as_mut_ptr(&mut self) -> *mut ffi::Queue {
        &mut self.raw
    }

    /// For libsolv functions that take a `Queue *` but only read it.
    pub(super) fn as_ptr(&self) -> *const ffi::Queue {
        &self.raw
    }

    pub(super) fn push(&mut self, id: ffi::Id) {
        // Safe because the queue is initialized; inserting at `count` appends
        // (queue_push itself is an inline function, not exported).
        unsafe { ffi::queue_insert(&mut self.raw, self.raw.count, id) };
    }

    pub(super) fn clear(&mut self) {
        // Safe because the queue is initialized; deleting everything keeps the
        // buffer for reuse (queue_empty itself is inline, not exported).
        unsafe { ffi::queue_deleten(&mut self.raw, 0, self.raw.count) };
    }

    pub(super) fn as_slice(&self) -> &[ffi::Id] {
        if self.raw.count == 0 {
            return &[];
        }
        // Safe because `elements` holds `count` initialized ids, and the
        // borrow of `self` keeps libsolv from growing the queue meanwhile.
        unsafe { std::slice::from_raw_parts(self.raw.elements, self.raw.count as usize) }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Safe because the queue was initialized and is freed only here.
        unsafe { ffi::queue_free(&mut self.raw) }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn push_clear_reuse() {
        let mut q = Queue::new();
        assert!(q.as_slice().is_empty());
        for i in 0..100 {
            q.push(i);
        }
        assert_eq!(q.as_slice(), (0..100).collect::<Vec<_>>().as_slice());
        q.clear();
        assert!(q.as_slice().is_empty());
        q.push(7);
        q.push(8);
        assert_eq!(q.as_slice(), &[7, 8]);
    }
}
