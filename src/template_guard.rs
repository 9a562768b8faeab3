//! Bounds on template rendering, the one place where a few bytes of input
//! can ask for unbounded memory or time: `{% set a = a ~ a %}` forty times
//! takes 8 bytes to terabytes in forty instructions, and one `sort` of a
//! 100,000-item list is one instruction; fuel counts instructions, and
//! minijinja has no hook for memory or time.
//!
//! - Memory: the binary installs [`Budgeted`] as its global allocator. While
//!   a [`TemplateBudget`] is alive on a thread, every byte that thread
//!   allocates (less what it frees) counts, past `--max-template-bytes`
//!   before the allocation is made.
//! - Time: a watchdog thread, started with the first template of a run,
//!   looks every few milliseconds at the templates being rendered: one may
//!   take `--max-template-seconds`, all of a run together
//!   `--max-rendering-seconds`.
//! - What all templates of a run render together is bounded by
//!   `--max-rendered-bytes` ([`take_rendered`]), since aliases and presets
//!   can repeat one templated field thousands of times.
//!
//! Past the memory or the time bound the process writes the object and the
//! field to stderr and exits 1 at once, before anything is written to stdout
//! (kpt, kustomize and Argo CD then show the stderr and change nothing):
//! Rust aborts when an allocation fails, and the VM cannot be interrupted
//! between two instructions. Without [`Budgeted`] (library users, the fuzz
//! targets) memory is not counted; without [`start_run`] (unit tests) no
//! watchdog runs.
//!
//! The crate's only unsafe code: a global allocator is an unsafe trait, and
//! the exit path calls `write` and `_exit` directly (see [`exit_with`]).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// Default `--max-template-bytes`: four times the largest field a template may
/// render (16 MiB), for minijinja's own copies.
pub const DEFAULT_TEMPLATE_BYTES: usize = 64 << 20;

/// Default `--max-rendered-bytes`: what all templates of one run may render
/// together, four fields of the largest size.
pub const DEFAULT_RENDERED_BYTES: usize = 64 << 20;

/// Default `--max-template-seconds`: a template of a Polyaxon file renders in
/// microseconds; half a second is a loop gone wrong, not a slow machine.
pub const DEFAULT_TEMPLATE_SECONDS: f64 = 0.5;

/// Default `--max-rendering-seconds`: every template of a run together
/// (100,000 items with 20,000 operations render in a fraction of a second).
pub const DEFAULT_RENDERING_SECONDS: f64 = 10.0;

/// A run's bounds, from its flags.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    pub template_bytes: usize,
    pub rendered_bytes: usize,
    pub template_seconds: f64,
    pub rendering_seconds: f64,
}

static TEMPLATE_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_TEMPLATE_BYTES);
static RENDERED_LIMIT: AtomicUsize = AtomicUsize::new(DEFAULT_RENDERED_BYTES);
static RENDERED: AtomicUsize = AtomicUsize::new(0);
/// The time bounds in nanoseconds; 0 until [`start_run`] arms the watchdog.
static TEMPLATE_NANOS: AtomicU64 = AtomicU64::new(0);
static RENDERING_NANOS: AtomicU64 = AtomicU64::new(0);
/// Time spent in templates that have finished, this run.
static SPENT_NANOS: AtomicU64 = AtomicU64::new(0);

/// Starts a run's bounds: each later [`TemplateBudget`] gets
/// `template_bytes` and the time bounds, and [`take_rendered`] counts from
/// zero.
pub fn start_run(limits: RunLimits) {
    let nanos = |seconds: f64| (seconds.max(0.0) * 1e9).min(u64::MAX as f64).max(1.0) as u64;
    TEMPLATE_LIMIT.store(limits.template_bytes, Ordering::Relaxed);
    RENDERED_LIMIT.store(limits.rendered_bytes, Ordering::Relaxed);
    RENDERED.store(0, Ordering::Relaxed);
    TEMPLATE_NANOS.store(nanos(limits.template_seconds), Ordering::Relaxed);
    RENDERING_NANOS.store(nanos(limits.rendering_seconds), Ordering::Relaxed);
    SPENT_NANOS.store(0, Ordering::Relaxed);
}

/// Counts `bytes` of rendered text against the run's total; the limit when
/// the total would pass it.
pub fn take_rendered(bytes: usize) -> Result<(), usize> {
    let limit = RENDERED_LIMIT.load(Ordering::Relaxed);
    let before = RENDERED.fetch_add(bytes, Ordering::Relaxed);
    if before.saturating_add(bytes) > limit {
        return Err(limit);
    }
    Ok(())
}

const NOTE_CAPACITY: usize = 400;

thread_local! {
    /// Bytes this thread may still allocate; `None` outside a budget.
    static REMAINING: Cell<Option<isize>> = const { Cell::new(None) };
    /// What the stderr line names, written beforehand so that the exit path
    /// needs no allocation: the object being converted (and its file), then
    /// with the field whose template is being rendered.
    static SUBJECT: Cell<Note> = const { Cell::new(Note::EMPTY) };
    static FILE: Cell<Note> = const { Cell::new(Note::EMPTY) };
    static FIELD: Cell<Note> = const { Cell::new(Note::EMPTY) };
}

/// Names the object this thread converts next, for the message if a bound
/// is passed: the text before the field's path and after the message.
pub fn converting(subject: fmt::Arguments<'_>, file: fmt::Arguments<'_>) {
    SUBJECT.with(|n| n.set(Note::from(subject)));
    FILE.with(|n| n.set(Note::from(file)));
}

/// A template being rendered, as the watchdog sees it.
struct Slot {
    /// When it started (nanoseconds since [`epoch`], plus one); 0 when free.
    since: AtomicU64,
    claimed: AtomicBool,
    /// Its object and field, and its file.
    names: Mutex<(Note, Note)>,
}

impl Slot {
    const fn free() -> Slot {
        Slot {
            since: AtomicU64::new(0),
            claimed: AtomicBool::new(false),
            names: Mutex::new((Note::EMPTY, Note::EMPTY)),
        }
    }
}

/// Two threads convert at once; a few more slots cost nothing.
static SLOTS: [Slot; 4] = [Slot::free(), Slot::free(), Slot::free(), Slot::free()];
static WATCHDOG: Once = Once::new();

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1
}

/// Counts this thread's allocations and the time it renders until dropped.
pub struct TemplateBudget {
    outer: Option<isize>,
    slot: Option<&'static Slot>,
}

impl TemplateBudget {
    /// `field` names the field (its path) in the message if a bound is passed.
    pub fn start(field: fmt::Arguments<'_>) -> Self {
        let mut named = SUBJECT.with(Cell::get);
        if named.write_fmt(field).is_err() {
            named.ellipsis();
        }
        FIELD.with(|n| n.set(named));
        let slot = if TEMPLATE_NANOS.load(Ordering::Relaxed) > 0 {
            start_watchdog();
            SLOTS
                .iter()
                .find(|slot| !slot.claimed.swap(true, Ordering::AcqRel))
        } else {
            None
        };
        if let Some(slot) = slot {
            if let Ok(mut names) = slot.names.lock() {
                *names = (named, FILE.with(Cell::get));
            }
            slot.since.store(now_nanos(), Ordering::Release);
        }
        let limit = TEMPLATE_LIMIT.load(Ordering::Relaxed);
        let outer =
            REMAINING.with(|r| r.replace(Some(isize::try_from(limit).unwrap_or(isize::MAX))));
        TemplateBudget { outer, slot }
    }
}

impl Drop for TemplateBudget {
    fn drop(&mut self) {
        REMAINING.with(|r| r.set(self.outer));
        if let Some(slot) = self.slot {
            let since = slot.since.swap(0, Ordering::AcqRel);
            SPENT_NANOS.fetch_add(now_nanos().saturating_sub(since), Ordering::Relaxed);
            slot.claimed.store(false, Ordering::Release);
        }
    }
}

fn start_watchdog() {
    WATCHDOG.call_once(|| {
        // Should no thread start, templates are bounded by fuel and memory only.
        let _ = std::thread::Builder::new()
            .name("template-watchdog".into())
            .stack_size(64 << 10)
            .spawn(watch);
    });
}

/// Ends the process when a template, or all of them, ran too long.
fn watch() {
    loop {
        std::thread::sleep(Duration::from_millis(10));
        let one = TEMPLATE_NANOS.load(Ordering::Relaxed);
        let all = RENDERING_NANOS.load(Ordering::Relaxed);
        let mut spent = SPENT_NANOS.load(Ordering::Relaxed);
        let now = now_nanos();
        for slot in &SLOTS {
            let since = slot.since.load(Ordering::Acquire);
            if since == 0 {
                continue;
            }
            let running = now.saturating_sub(since);
            spent = spent.saturating_add(running);
            let message = if running > one {
                Note::from(format_args!(
                    ": the template ran longer than {} s (--max-template-seconds); nothing was written",
                    one as f64 / 1e9
                ))
            } else if spent > all {
                Note::from(format_args!(
                    ": the templates of this run ran longer than {} s in all (--max-rendering-seconds); nothing was written",
                    all as f64 / 1e9
                ))
            } else {
                continue;
            };
            let (named, file) = slot
                .names
                .lock()
                .map(|names| *names)
                .unwrap_or((Note::EMPTY, Note::EMPTY));
            exit_with(&named, &message, &file);
        }
    }
}

#[derive(Clone, Copy)]
struct Note {
    bytes: [u8; NOTE_CAPACITY],
    len: usize,
}

impl Note {
    const EMPTY: Note = Note {
        bytes: [0; NOTE_CAPACITY],
        len: 0,
    };

    /// Formats without allocating; text that does not fit is cut and marked "…".
    fn from(what: fmt::Arguments<'_>) -> Self {
        let mut note = Note::EMPTY;
        if note.write_fmt(what).is_err() {
            note.ellipsis();
        }
        note
    }

    fn text(&self) -> &[u8] {
        &self.bytes[..self.len]
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
    exit_with(&FIELD.with(Cell::get), &message, &FILE.with(Cell::get));
}

/// Set by the first thread to pass a bound: only it writes, so two messages never mix.
static EXITING: AtomicBool = AtomicBool::new(false);

/// Writes `error: ` and the three parts as one line to stderr and ends the
/// process with exit 1, allocating nothing.
fn exit_with(named: &Note, message: &Note, file: &Note) -> ! {
    if EXITING.swap(true, Ordering::SeqCst) {
        // Another thread is writing its message and ending the process.
        loop {
            std::thread::sleep(Duration::from_secs(1));
        }
    }
    for part in [
        b"error: ".as_slice(),
        named.text(),
        message.text(),
        file.text(),
        b"\n",
    ] {
        write_stderr(part);
    }
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
        let text = std::str::from_utf8(note.text()).expect("utf-8");
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
