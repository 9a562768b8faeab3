//! Two pieces of work at once: on the caller's thread and on one more.

use std::sync::Mutex;

/// The stack of each thread we start (the binary's work runs on one too): a
/// deep tree (`--max-depth` raised) is read, converted and freed
/// recursively, and a template can nest a value as deep as its fuel allows
/// (~180,000 levels at 200,000 instructions), which minijinja prints
/// recursively (~400 bytes a level). Reserved, not touched: it costs no
/// memory until used.
pub const STACK_BYTES: usize = 256 << 20;

/// Runs `first` here and `second` on a second thread (as `rayon::join`
/// does) and gives both results. When no thread can be started (a sandbox's
/// process limit, say) both run here, one after the other: the function
/// must never fail for want of a thread. A panic in `second` is raised here.
pub fn join<A, B>(first: impl FnOnce() -> A, second: impl FnOnce() -> B + Send) -> (A, B)
where
    B: Send,
{
    // The second thread takes the work from here; if it never starts, the
    // work is still here.
    let slot = Mutex::new(Some(second));
    let take = || slot.lock().ok().and_then(|mut work| work.take());
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .stack_size(STACK_BYTES)
            .spawn_scoped(scope, || take().map(|work| work()));
        let a = first();
        let b = match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        };
        let b = match b {
            Some(b) => b,
            None => match take() {
                Some(work) => work(),
                None => unreachable!("the second piece of work ran nowhere"),
            },
        };
        (a, b)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_results_come_back_in_order() {
        let data: Vec<u32> = (0..1000).collect();
        let (a, b) = super::join(
            || data[..500].iter().sum::<u32>(),
            || data[500..].iter().sum::<u32>(),
        );
        assert_eq!((a, b), (124_750, 374_750));
    }
}
