//! `render -`: a stream on stdin, the manifests to apply on stdout.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let first = common::run(&["polyaxon-krm", "render", "-"], data);
    common::check_exit(&first);
    if first.code == 1 {
        assert!(first.stdout.is_empty(), "render wrote output and failed");
        return;
    }
    assert!(
        std::str::from_utf8(&first.stdout).is_ok(),
        "stdout is not UTF-8"
    );
    if !first.stdout.is_empty() {
        // Rendering what render wrote changes nothing.
        let second = common::run(&["polyaxon-krm", "render", "-"], &first.stdout);
        assert_eq!(
            second.code,
            0,
            "render's own output fails when rendered again: {}",
            String::from_utf8_lossy(&second.stderr)
        );
        assert!(
            second.stdout == first.stdout,
            "render(render(x)) != render(x)"
        );
    }
});
