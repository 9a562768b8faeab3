//! The container recipe cannot be built where the tests run (no container
//! engine), so these tests read it: the image must stay a lone static binary
//! run as nobody, built by the same script that CI runs on the host.

use std::fs;
use std::path::Path;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {}: {e}", full.display()))
}

/// Instructions of a Dockerfile, continuation lines joined, comments dropped.
fn instructions(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            out.push(std::mem::take(&mut current));
        }
    }
    out
}

#[test]
fn final_stage_is_only_the_binary_run_as_nobody() {
    let dockerfile = read("Dockerfile");
    let all = instructions(&dockerfile);
    let last_from = all
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .expect("a FROM instruction");
    let last = &all[last_from..];
    assert_eq!(last[0], "FROM scratch", "final stage: {last:#?}");
    let copies: Vec<_> = last.iter().filter(|i| i.starts_with("COPY ")).collect();
    assert_eq!(
        copies,
        ["COPY --from=build --chmod=0555 /out/polyaxon-krm /polyaxon-krm"],
        "the final stage holds the binary and nothing else"
    );
    assert!(
        !last
            .iter()
            .any(|i| i.starts_with("RUN ") || i.starts_with("ADD ")),
        "{last:#?}"
    );
    assert!(last.iter().any(|i| i == "USER 65534:65534"), "{last:#?}");
    assert_eq!(
        last.last().map(String::as_str),
        Some(r#"ENTRYPOINT ["/polyaxon-krm"]"#)
    );
    for label in [
        "title",
        "description",
        "licenses",
        "version",
        "revision",
        "source",
    ] {
        assert!(
            dockerfile.contains(&format!("org.opencontainers.image.{label}=")),
            "OCI label {label} missing"
        );
    }
}

#[test]
fn image_and_host_build_share_one_script() {
    let dockerfile = instructions(&read("Dockerfile"));
    let run = dockerfile
        .iter()
        .find(|i| i.starts_with("RUN ") && i.contains("scripts/build-static.sh"))
        .expect("the build stage runs scripts/build-static.sh");
    assert!(
        run.contains("--build-only --out /out/polyaxon-krm"),
        "{run}"
    );
    assert!(
        dockerfile
            .iter()
            .any(|i| i == "ARG STATIC_TARGET=x86_64-unknown-linux-musl"),
        "the image defaults to the musl target"
    );

    let script = read("scripts/build-static.sh");
    for needle in [
        "MUSL=x86_64-unknown-linux-musl",
        "GNU=x86_64-unknown-linux-gnu",
        r#"cargo build --release --locked --target "$target""#,
        r#"export RUSTFLAGS="-C target-feature=+crt-static""#,
        "POLYAXON_KRM_STATIC_TARGET",
        "--reuid=65534 --regid=65534",
    ] {
        assert!(script.contains(needle), "build-static.sh lacks {needle}");
    }

    let ci = read(".ci/run");
    assert!(
        ci.contains("bash scripts/build-static.sh"),
        "CI builds the static binary"
    );
}

#[test]
fn build_context_keeps_what_cargo_needs() {
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for needed in ["Cargo.toml", "Cargo.lock", "src", "tests", "scripts"] {
        assert!(
            !patterns
                .iter()
                .any(|p| *p == needed || *p == "*" || p.starts_with(&format!("{needed}/"))),
            ".dockerignore drops {needed}, which the build needs"
        );
    }
    assert!(
        patterns.contains(&"target"),
        "build output stays out of the context"
    );
}
