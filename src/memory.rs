//! A memory bound for template rendering, the one place where a few bytes of
//! input can ask for unbounded memory: `{% set b = a ~ a %}` forty times, or a
//! macro that doubles its argument, takes 8 bytes to terabytes in forty
//! instructions, far below any fuel limit, and minijinja has no memory hook.
//!
//! The binary installs [`Budgeted`] as its global allocator. While a
//! [`TemplateBudget`] is alive on a thread, every byte that thread allocates
//! (less what it frees) counts; past `--max-template-bytes` the process
//! writes the field's path to stderr and exits 1 at once, before the
//! allocation is made and before anything is written to stdout (kpt,
//! kustomize and Argo CD then show the stderr and change nothing). Stopping
//! inside the allocation is the only way out: Rust aborts when an allocation
//! fails, and the VM cannot be interrupted between two instructions.
//!
//! Without [`Budgeted`] installed (library users, the fuzz targets) the
//! budget is never checked.
//!
//! The crate's only unsafe code: a global allocator is an unsafe trait, and
//! the exit path calls `write` and `_exit` directly (see [`out_of_budget`]).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::{self, Write as _};

use std::sync::atomic::{AtomicUsize, Ordering};

/// Default `--max-template-bytes`: four times the largest field a template may
/// render (16 MiB), for minijinja's own copies.
pub const DEFAULT_TEMPLATE_BYTES: usize = 64 << 20;

static TEMPLATE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_TEMPLATE_BYTES);

/// Sets the bound every later [`TemplateBudget`] gets (from `--max-template-bytes`).
pub fn set_template_limit(bytes: usize) {
    TEMPLATE_LIMIT.store(bytes, Ordering::Relaxed);
}

const NOTE_CAPACITY: usize = 400;

thread_local! {
    /// Bytes this thread may still allocate; `None` outside a budget.
    static REMAINING: Cell<Option<isize>> = const { Cell::new(None) };
    /// What the stderr line names, written beforehand so that the exit path
    /// needs no allocation: the object being converted, and the field whose
    /// template is being rendered.
    static SUBJECT: Cell<([u8; NOTE_CAPACITY], usize)> = const { Cell::new(([0; NOTE_CAPACITY], 0)) };
    static FILE: Cell<([u8; NOTE_CAPACITY], usize)> = const { Cell::new(([0; NOTE_CAPACITY], 0)) };
    static FIELD: Cell<([u8; NOTE_CAPACITY], usize)> = const { Cell::new(([0; NOTE_CAPACITY], 0)) };
}

/// Names the object this thread converts next, for the message if a budget
/// runs out: the text before the field's path and after the message.
pub fn converting(subject: fmt::Arguments<'_>, file: fmt::Arguments<'_>) {
    SUBJECT.with(|n| n.set(Note::from(subject).into_parts()));
    FILE.with(|n| n.set(Note::from(file).into_parts()));
}

/// Counts this thread's allocations until dropped.
pub struct TemplateBudget {
    outer: Option<isize>,
}

impl TemplateBudget {
    /// `field` names the field (its path) in the message if the budget runs out.
    pub fn start(field: fmt::Arguments<'_>) -> Self {
        FIELD.with(|n| n.set(Note::from(field).into_parts()));
        let limit = TEMPLATE_LIMIT.load(Ordering::Relaxed);
        let outer =
            REMAINING.with(|r| r.replace(Some(isize::try_from(limit).unwrap_or(isize::MAX))));
        TemplateBudget { outer }
    }
}

impl Drop for TemplateBudget {
    fn drop(&mut self) {
        REMAINING.with(|r| r.set(self.outer));
    }
}

struct Note {
    bytes: [u8; NOTE_CAPACITY],
    len: usize,
}

impl Default for Note {
    fn default() -> Self {
        Note {
            bytes: [0; NOTE_CAPACITY],
            len: 0,
        }
    }
}

impl Note {
    /// Formats without allocating; text that does not fit is cut and marked "…".
    fn from(what: fmt::Arguments<'_>) -> Self {
        let mut note = Note::default();
        if note.write_fmt(what).is_err() {
            note.ellipsis();
        }
        note
    }

    fn into_parts(self) -> ([u8; NOTE_CAPACITY], usize) {
        (self.bytes, self.len)
    }

    fn ellipsis(&mut self) {
        let mark = "…".as_bytes();
        let mut at = self.len.min(NOTE_CAPACITY - mark.len());
        // Cut on a character boundary.
        while at > 0 && (self.bytes[at] & 0xC0) == 0x80 {
            at -= 1;
        }
        self.bytes[at..at + mark.len()].copy_from_slice(mark);
        self.len = at + mark.len();
    }
}

impl fmt::Write for Note {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = NOTE_CAPACITY - 8 - self.len.min(NOTE_CAPACITY - 8);
        if s.len() > room {
            let mut take = room;
            while !s.is_char_boundary(take) {
                take -= 1;
            }
            self.bytes[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
            self.len += take;
            return Err(fmt::Error);
        }
        self.bytes[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

/// The system allocator, with the template budget checked on every call.
pub struct Budgeted;

/// Takes `bytes` from the thread's budget, if it has one; exits when spent.
#[inline]
fn charge(bytes: isize) {
    // `try_with`: a thread being torn down has no budget.
    let _ = REMAINING.try_with(|r| {
        if let Some(left) = r.get() {
            let left = left.saturating_sub(bytes);
            if left < 0 {
                out_of_budget();
            }
            r.set(Some(left));
        }
    });
}

#[cold]
fn out_of_budget() -> ! {
    let limit = TEMPLATE_LIMIT.load(Ordering::Relaxed);
    let message = Note::from(format_args!(
        ": the template needs more than {limit} bytes of memory (--max-template-bytes); nothing was written"
    ));
    write_stderr(b"error: ");
    for note in [&SUBJECT, &FIELD] {
        let (bytes, len) = note.with(Cell::get);
        write_stderr(&bytes[..len]);
    }
    write_stderr(&message.bytes[..message.len]);
    let (file, len) = FILE.with(Cell::get);
    write_stderr(&file[..len]);
    write_stderr(b"\n");
    // `_exit`: no atexit handlers, no stdio flush, no lock another thread holds.
    unsafe extern "C" {
        fn _exit(status: i32) -> !;
    }
    // SAFETY: `_exit` only ends the process; nothing is written to stdout.
    unsafe { _exit(1) }
}

/// Writes to fd 2 without the `Stderr` lock (`main` holds it) and without allocating.
fn write_stderr(mut bytes: &[u8]) {
    unsafe extern "C" {
        fn write(fd: i32, buf: *const u8, count: usize) -> isize;
    }
    while !bytes.is_empty() {
        // SAFETY: `bytes` is a live slice; fd 2 is stderr.
        let n = unsafe { write(2, bytes.as_ptr(), bytes.len()) };
        if n <= 0 {
            return;
        }
        bytes = &bytes[n as usize..];
    }
}

fn signed(bytes: usize) -> isize {
    isize::try_from(bytes).unwrap_or(isize::MAX)
}

// SAFETY: every call is forwarded to `System` with the same arguments; the
// budget only reads and writes thread-locals that never allocate.
unsafe impl GlobalAlloc for Budgeted {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        charge(signed(layout.size()));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        charge(signed(layout.size()));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        charge(-signed(layout.size()));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        charge(signed(new_size) - signed(layout.size()));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_note_that_does_not_fit_is_cut_on_a_character_boundary() {
        let long = "é".repeat(NOTE_CAPACITY);
        let note = Note::from(format_args!("{long}"));
        let text = std::str::from_utf8(&note.bytes[..note.len]).expect("utf-8");
        assert!(text.ends_with('…'));
        assert!(text.len() <= NOTE_CAPACITY);
    }

    #[test]
    fn a_budget_ends_with_its_guard_and_restores_the_outer_one() {
        {
            let _outer = TemplateBudget::start(format_args!("outer"));
            REMAINING.with(|r| r.set(Some(5)));
            {
                let _inner = TemplateBudget::start(format_args!("inner"));
                assert!(REMAINING.with(Cell::get).is_some_and(|left| left > 5));
            }
            assert_eq!(REMAINING.with(Cell::get), Some(5));
        }
        assert_eq!(REMAINING.with(Cell::get), None);
    }
}
