//! KRM function mode: bytes on stdin, no arguments.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // Read in two parts on two threads (as large inputs are), the input
    // gives exactly what one reading gives.
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(
            polyaxon_krm::yaml::agrees_with_one_reading(text),
            "read in two, the input reads differently"
        );
    }
    let first = common::run(&["polyaxon-krm"], data);
    common::check_exit(&first);
    let Ok(out) = std::str::from_utf8(&first.stdout) else {
        panic!("stdout is not UTF-8");
    };
    match first.code {
        0 => {
            assert!(!out.is_empty(), "exit 0 with empty output");
            // What only passes through comes back equal in value, in order
            // (copied from its text or written from its tree).
            if let Ok(text) = std::str::from_utf8(data)
                && let Some(before) = polyaxon_krm::read::passing_through_values(text)
            {
                let after =
                    polyaxon_krm::read::passing_through_values(out).expect("the output reads back");
                assert!(before == after, "an item that passes through changed");
            }
            // f(f(x)) == f(x), byte for byte.
            let second = common::run(&["polyaxon-krm"], out.as_bytes());
            assert_eq!(
                second.code,
                0,
                "the output of a successful run fails when fed back: {}",
                String::from_utf8_lossy(&second.stderr)
            );
            assert!(second.stdout == first.stdout, "f(f(x)) != f(x)");
        }
        _ => {
            // An error run gives back the items unchanged in value, or nothing.
            if !out.is_empty()
                && let Ok(text) = std::str::from_utf8(data)
                && let Some(before) = common::items_json(text)
            {
                let after = common::items_json(out).expect("the error output reads back");
                assert!(before == after, "an error run changed the items");
            }
        }
    }
});
