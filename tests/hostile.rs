//! Hostile input through the real binary: each must fail cleanly — exit 1,
//! a message on stderr, nothing on stdout (or the list unchanged), never a
//! signal or a panic (101), never exit 0 with empty output — within bounded
//! memory (every run is under `prlimit --as`). Kill timeouts are generous;
//! how long each input takes is measured by scripts/bench.sh, not asserted.
//!
//! Also: the fuzz seed corpus and every fuzz finding (fuzz/corpus/*/,
//! fuzz/regressions/) through both modes, and each finding as a named
//! regression test.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// Address-space cap for a run that must be rejected early.
const SMALL_AS: u64 = 2048 * MIB;

struct Out {
    /// None when killed by a signal (or by our timeout).
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
    timed_out: bool,
    elapsed: Duration,
}

impl Out {
    fn describe(&self) -> String {
        let shown = &self.stdout[..self.stdout.len().min(2000)];
        format!(
            "exit: {:?} (timed out: {}, {:.2?})\n--- stdout ({} bytes) ---\n{}\n--- stderr ---\n{}",
            self.code,
            self.timed_out,
            self.elapsed,
            self.stdout.len(),
            String::from_utf8_lossy(shown),
            &self.stderr[..self.stderr.len().min(4000)]
        )
    }
}

/// Runs the binary under `prlimit --as=LIMIT`, killing it after `timeout`.
fn run_limited(args: &[&str], stdin: Vec<u8>, address_space: u64, timeout: Duration) -> Out {
    let mut cmd = Command::new("prlimit");
    cmd.arg(format!("--as={address_space}"))
        .arg("--")
        .arg(common::bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot start prlimit ({e}): these tests bound memory with prlimit (util-linux)")
    });
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&stdin); // a process that stops reading is fine
    });
    let mut out_pipe = child.stdout.take().expect("stdout is piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let mut err_pipe = child.stderr.take().expect("stderr is piped");
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let mut timed_out = false;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the child") {
            break status;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait for the killed child");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let _ = writer.join();
    let stdout = reader.join().expect("stdout reader");
    let stderr = String::from_utf8_lossy(&err_reader.join().expect("stderr reader")).into_owned();
    Out {
        code: status.code(),
        stdout,
        stderr,
        timed_out,
        elapsed,
    }
}

fn krm(stdin: impl Into<Vec<u8>>) -> Out {
    run_limited(&[], stdin.into(), SMALL_AS, Duration::from_secs(120))
}

fn render(stdin: impl Into<Vec<u8>>) -> Out {
    run_limited(
        &["render", "-"],
        stdin.into(),
        SMALL_AS,
        Duration::from_secs(120),
    )
}

/// Exit 1, a message on stderr that mentions one of `stderr_mentions`
/// (separated by `|`), nothing on stdout.
#[track_caller]
fn assert_clean_error(out: &Out, stderr_mentions: &str) {
    assert!(
        !out.timed_out,
        "killed after the timeout\n{}",
        out.describe()
    );
    assert_eq!(out.code, Some(1), "expected exit 1\n{}", out.describe());
    assert!(
        out.stdout.is_empty(),
        "an input that cannot be read gives nothing on stdout\n{}",
        out.describe()
    );
    let stderr = out.stderr.to_lowercase();
    assert!(
        stderr_mentions
            .split('|')
            .any(|m| stderr.contains(&m.to_lowercase())),
        "stderr should mention {stderr_mentions:?} (`|` separates alternatives)\n{}",
        out.describe()
    );
    eprintln!("{:.2?} for {stderr_mentions:?}", out.elapsed);
}

fn both_modes(input: &[u8], stderr_mentions: &str) {
    assert_clean_error(&krm(input), stderr_mentions);
    assert_clean_error(&render(input), stderr_mentions);
}

// ---------------------------------------------------------------------------
// The inputs of the issue

fn billion_laughs() -> String {
    let mut text = String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n");
    text.push_str("  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 9].join(", ");
        text.push_str(&format!("  a{i}: &a{i} [{refs}]\n"));
    }
    text
}

#[test]
fn alias_bomb_is_an_error() {
    both_modes(billion_laughs().as_bytes(), "alias");
}

#[test]
fn alias_bomb_inside_a_resource_list_is_an_error() {
    let mut text =
        String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- ");
    text.push_str(&billion_laughs().replace('\n', "\n  "));
    assert_clean_error(&krm(text), "alias");
}

/// A PolyaxonOperation whose container command is `template`, as a bare
/// document (both modes read it).
fn operation_with_template(template: &str) -> String {
    format!(
        "apiVersion: polyaxon-krm.dev/v1alpha1\nkind: PolyaxonOperation\nmetadata:\n  name: bomb\nspec:\n  version: 1.1\n  kind: operation\n  component:\n    run:\n      kind: job\n      container:\n        image: busybox\n        command: [{}]\n",
        serde_json::to_string(template).expect("a string")
    )
}

/// The stderr line names the object and the field of [`operation_with_template`].
#[track_caller]
fn assert_names_the_bomb_field(out: &Out) {
    assert!(
        out.stderr
            .contains("PolyaxonOperation/bomb spec.component.run.container.command[0]: "),
        "the message names the object and the field\n{}",
        out.describe()
    );
}

/// Templates whose values double (or square) with each step: a few hundred
/// bytes that ask for terabytes in a handful of instructions, far inside the
/// fuel bound. Each stops at `--max-template-bytes`, naming the field.
const TEMPLATE_BOMBS: &[&str] = &[
    // Straight-line doubling, no loop at all.
    "{% set a = 'xxxxxxxx' %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{{ a }}",
    // A recursive loop that doubles its item as it goes down.
    "{% for s in ['xxxxxxxx'] recursive %}{{ loop([s ~ s]) }}{% endfor %}",
    // Squaring through a filter, in one expression.
    "{{ ('x' * 10000) | replace('x', 'x' * 10000) | replace('x', 'x' * 10000) }}",
    // The largest repetition minijinja allows, written out twice.
    "{% set a = 'x' * 100000000 %}{{ a ~ a }}",
];

#[test]
fn template_bombs_stop_at_the_memory_bound() {
    for template in TEMPLATE_BOMBS {
        let input = operation_with_template(template);
        for out in [krm(input.as_bytes()), render(input.as_bytes())] {
            assert_clean_error(&out, "--max-template-bytes");
            assert_names_the_bomb_field(&out);
        }
    }
}

#[test]
fn the_template_memory_bound_is_a_flag() {
    // 100 MB of repetition: over the default bound, through with 1 GB; its
    // rendered field is then over the 16 MiB a field may hold, an error result.
    let input = operation_with_template("{{ 'x' * 100000000 }}");
    assert_clean_error(&krm(input.as_bytes()), "--max-template-bytes");
    let out = run_limited(
        &["--max-template-bytes", "1000000000"],
        input.into_bytes(),
        4096 * MIB,
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("more than a field may hold") && out.stdout.starts_with(b"apiVersion"),
        "an error result, the items unchanged\n{}",
        out.describe()
    );
}

/// Templates that take long without much memory: one instruction can sort
/// 100,000 items or search 10 MB, so fuel does not bound their time.
#[test]
fn slow_templates_stop_at_the_time_bound() {
    for template in [
        "{% set s = range(100000)|map('string')|list %}{% for i in range(30000) %}{% set t = s|sort %}{% endfor %}ok",
        "{% set a = 'x' * 10000000 %}{% for i in range(30000) %}{% if 'z' in a %}{% endif %}{% endfor %}ok",
    ] {
        let input = operation_with_template(template);
        let out = krm(input.as_bytes());
        assert_clean_error(&out, "--max-template-seconds");
        assert_names_the_bomb_field(&out);
    }
}

/// Aliases repeat one templated field: each copy is rendered, so the run's
/// totals (bytes rendered, time spent rendering) bound what one field's
/// bounds cannot.
#[test]
fn repeated_template_fields_stop_at_the_run_totals() {
    let repeated = |template: &str| {
        let field = serde_json::to_string(template).expect("a string");
        format!(
            "apiVersion: polyaxon-krm.dev/v1alpha1\nkind: PolyaxonOperation\nmetadata:\n  name: bomb\nspec:\n  version: 1.1\n  kind: operation\n  component:\n    run:\n      kind: job\n      container:\n        image: busybox\n        command: &b [&a {field}{}]\n        args: [{}]\n",
            ", *a".repeat(15),
            vec!["*b"; 16].join(", ")
        )
    };
    // 256 fields of 16,000,000 bytes each.
    let out = krm(repeated("{{ 'x' * 16000000 }}"));
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("--max-rendered-bytes"),
        "{}",
        out.describe()
    );
    // 256 renders of a loop that takes a few milliseconds each.
    let out = run_limited(
        // Each render is short, but a debug build under load could take
        // half a second for one: only the total is under test here.
        &[
            "--max-rendering-seconds",
            "0.3",
            "--max-template-seconds",
            "60",
        ],
        repeated("{% for i in range(2000) %}{% set t = range(1000)|list|sort %}{% endfor %}ok")
            .into_bytes(),
        SMALL_AS,
        Duration::from_secs(120),
    );
    assert_clean_error(&out, "--max-rendering-seconds");
}

/// `namespace()`, the one mutable value, could be made to hold itself (then
/// printed, compared or sorted without end) or to grow a value nested as
/// deep as fuel allows: it is refused with an error result.
#[test]
fn namespace_is_refused_not_a_crash() {
    for template in [
        "{% set n = namespace() %}{% set n.a = [n] %}{{ n.a }}",
        "{% set ns = namespace(a=[]) %}{% for i in range(3500) %}{% set ns.a = [[[[[[[[[[ns.a]]]]]]]]]] %}{% endfor %}{{ ns.a }}",
    ] {
        let out = krm(operation_with_template(template).into_bytes());
        assert_eq!(out.code, Some(1), "{}", out.describe());
        assert!(
            out.stderr.contains("namespace() is not available"),
            "{}",
            out.describe()
        );
        assert!(out.stdout.starts_with(b"apiVersion"), "{}", out.describe());
    }
}

/// An error message may quote what the template made (here a 10 MB keyword
/// name): each is cut, so fields repeated by the input cannot add up.
#[test]
fn template_error_messages_stay_small() {
    let field = serde_json::to_string("{{ 'a'|indent(**{('x'*10000000): 1}) }}").expect("json");
    let input = operation_with_template("x").replace(
        "command: [\"x\"]",
        &format!("command: [{}]", vec![field.as_str(); 40].join(", ")),
    );
    let out = krm(input.into_bytes());
    assert_eq!(out.code, Some(1), "{}", out.describe());
    assert!(
        out.stderr.contains("unknown keyword argument"),
        "{}",
        out.describe()
    );
    assert!(
        out.stdout.len() + out.stderr.len() < 1_000_000,
        "{} + {} bytes of messages",
        out.stdout.len(),
        out.stderr.len()
    );
}

/// Builtin filters whose arguments make Rust panic before any allocation.
#[test]
fn filter_arguments_that_would_panic_are_error_results() {
    for template in [
        "{{ '%.70000f'|format(1) }}",
        "{{ range(3)|batch(2**62)|list }}",
        "{{ range(10)|slice(9223372036854775807)|list }}",
    ] {
        let out = krm(operation_with_template(template).into_bytes());
        assert_eq!(out.code, Some(1), "{template}\n{}", out.describe());
        assert!(out.stderr.contains(" is over "), "{}", out.describe());
        assert!(out.stdout.starts_with(b"apiVersion"), "{}", out.describe());
    }
}

/// Two threads past the memory bound at once write one message, not two
/// interleaved.
#[test]
fn two_threads_past_the_bound_write_one_message() {
    let mut input = String::new();
    for i in 0..40 {
        let template = if i == 0 || i == 20 {
            "{% set a = 'x' * 100000000 %}{{ a ~ a }}"
        } else {
            "{{ 'ok' }}"
        };
        input.push_str(
            &operation_with_template(template).replace("name: bomb", &format!("name: op{i}")),
        );
        input.push_str("---\n");
    }
    for _ in 0..10 {
        let out = krm(input.as_bytes());
        assert_clean_error(&out, "--max-template-bytes");
        assert_eq!(
            out.stderr.matches("error:").count(),
            1,
            "{}",
            out.describe()
        );
    }
}

#[test]
fn ordinary_templates_render_under_the_memory_bound() {
    // A 10 MB field built by a template: well inside the bound, converted.
    let input = operation_with_template("{{ 'ab' * 5000000 }}");
    let out = krm(input.as_bytes());
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(out.stdout.len() > 10_000_000, "{}", out.describe());
}

/// Every depth error names its flag (finding F4, fixed).
const DEPTH_MESSAGE: &str = "--max-depth";

#[test]
fn f4_depth_error_names_the_flag() {
    let seq = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    both_modes(seq.as_bytes(), "--max-depth");
    let block = format!("{}x\n", "- ".repeat(10_000));
    both_modes(block.as_bytes(), "--max-depth");
}

#[test]
fn deep_flow_nesting_is_an_error() {
    let seq = format!("a: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    both_modes(seq.as_bytes(), DEPTH_MESSAGE);
    let map = format!("a: {}x{}\n", "{a: ".repeat(10_000), "}".repeat(10_000));
    both_modes(map.as_bytes(), DEPTH_MESSAGE);
    // Unclosed: the limit trips before the end of input does.
    both_modes("[".repeat(10_000).as_bytes(), DEPTH_MESSAGE);
}

#[test]
fn deep_block_nesting_is_an_error() {
    let seq = format!("{}x\n", "- ".repeat(10_000));
    both_modes(seq.as_bytes(), DEPTH_MESSAGE);
    let mut map = String::new();
    for i in 0..10_000 {
        map.push_str(&" ".repeat(i));
        map.push_str("a:\n");
    }
    both_modes(map.as_bytes(), DEPTH_MESSAGE);
}

/// Nesting just under the limit is accepted (the limit is not off by one
/// into a stack overflow), and `--max-depth` is the flag that moves it.
#[test]
fn depth_limit_is_a_flag() {
    let doc = |depth: usize| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: deep}}\nx: {}1{}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    let ok = krm(doc(200));
    assert_eq!(ok.code, Some(0), "{}", ok.describe());
    assert_clean_error(&krm(doc(300)), DEPTH_MESSAGE);
    let raised = run_limited(
        &["--max-depth", "400"],
        doc(300).into_bytes(),
        SMALL_AS,
        Duration::from_secs(120),
    );
    assert_eq!(raised.code, Some(0), "{}", raised.describe());
}

/// Valid YAML over one of our limits is said to be over a limit, not
/// invalid, and the input limit gives the limit, not a size it never read.
#[test]
fn a_valid_input_over_a_limit_is_not_called_invalid() {
    let two_docs = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n";
    for (args, mentions) in [
        (&["--max-scalar-bytes", "5"][..], "over a limit"),
        (&["--max-documents", "1"][..], "over a limit"),
        (&["--max-depth", "1"][..], "over a limit"),
        (
            &["--max-input-bytes", "10"][..],
            "over the limit of 10 bytes (--max-input-bytes)",
        ),
    ] {
        let out = run_limited(
            args,
            two_docs.as_bytes().to_vec(),
            SMALL_AS,
            Duration::from_secs(120),
        );
        assert_clean_error(&out, mentions);
        assert!(!out.stderr.contains("not valid YAML"), "{}", out.describe());
    }
}

/// `render` reads files no further than `--max-input-bytes` allows for the
/// whole run, and the config file too: a huge file is refused, not read whole.
#[test]
fn render_bounds_what_it_reads_in_all() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let doc = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{a: \"{}\"}}\n",
            "x".repeat(500)
        )
    };
    std::fs::write(dir.path().join("a.yaml"), doc("a")).expect("write");
    std::fs::write(dir.path().join("b.yaml"), doc("b")).expect("write");
    let folder = dir.path().to_str().expect("a UTF-8 path");
    let out = run_limited(
        &["render", folder],
        Vec::new(),
        SMALL_AS,
        Duration::from_secs(120),
    );
    assert_eq!(out.code, Some(0), "{}", out.describe());
    // Each file fits; both together do not.
    let out = run_limited(
        &["render", "--max-input-bytes", "1000", folder],
        Vec::new(),
        SMALL_AS,
        Duration::from_secs(120),
    );
    assert_clean_error(
        &out,
        "over the limit of 1000 bytes the run may read (--max-input-bytes)",
    );
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, doc("c")).expect("write");
    let out = run_limited(
        &[
            "render",
            "--max-input-bytes",
            "100",
            "--config",
            config.to_str().expect("a UTF-8 path"),
            "-",
        ],
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n".to_vec(),
        SMALL_AS,
        Duration::from_secs(120),
    );
    assert_clean_error(&out, "cannot read the config file: over the limit");
}

fn big_scalar_input(bytes: usize) -> Vec<u8> {
    let mut input =
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  big: ".to_vec();
    input.resize(input.len() + bytes, b'x');
    input.extend_from_slice(b"\n  small: value\n");
    input
}

#[test]
fn a_100_mb_scalar_is_over_the_default_limit() {
    let input = big_scalar_input(100 << 20);
    let out = run_limited(&[], input, 4096 * MIB, Duration::from_secs(600));
    assert_clean_error(&out, "--max-scalar-bytes");
}

#[test]
fn a_100_mb_scalar_passes_with_a_raised_limit() {
    let size = 100 << 20;
    let input = big_scalar_input(size);
    let out = run_limited(
        &["--max-scalar-bytes", "200000000"],
        input,
        8192 * MIB,
        Duration::from_secs(600),
    );
    assert!(!out.timed_out, "{}", out.describe());
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let text = std::str::from_utf8(&out.stdout).expect("UTF-8 output");
    let start = text.find("big: ").expect("the big key is written") + "big: ".len();
    let value = &text[start..start + size];
    assert!(value.bytes().all(|b| b == b'x'), "the value is intact");
    assert!(
        text[start + size..].starts_with("\n  small: value\n"),
        "{}",
        &text[start + size..]
    );
    eprintln!("{:.2?} for a 100 MB scalar", out.elapsed);
}

#[test]
fn the_input_size_limit_is_a_flag() {
    let input = big_scalar_input(2 << 20);
    let out = run_limited(
        &["--max-input-bytes", "1000000"],
        input,
        SMALL_AS,
        Duration::from_secs(120),
    );
    assert_clean_error(&out, "--max-input-bytes");
}

#[test]
fn the_document_limit_is_a_flag() {
    let input = "a: 1\n---\n".repeat(20);
    let out = run_limited(
        &["--max-documents", "10"],
        input.into_bytes(),
        SMALL_AS,
        Duration::from_secs(120),
    );
    assert_clean_error(&out, "--max-documents");
}

#[test]
fn invalid_utf8_is_an_error() {
    both_modes(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: \"\xff\xfe\"}\n",
        "UTF-8",
    );
    // A lone continuation byte, a truncated sequence at the end, an overlong form.
    both_modes(b"a: \x80\n", "UTF-8");
    both_modes(b"a: b\xe2\x82", "UTF-8");
    both_modes(b"a: \xc0\xaf\n", "UTF-8");
    // UTF-16 with a BOM is not UTF-8 either.
    both_modes(b"\xff\xfea\x00:\x00 \x00b\x00\n\x00", "UTF-8");
}

#[test]
fn duplicate_keys_are_an_error() {
    both_modes(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\nmetadata: {name: y}\n",
        "duplicate",
    );
    both_modes(
        b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: 1, a: 2}\n",
        "duplicate",
    );
    assert_clean_error(
        &krm(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x}\n  data:\n    k: 1\n    k: 2\n",
        ),
        "duplicate",
    );
}

#[test]
fn a_bare_scalar_document_is_an_error() {
    assert_clean_error(&krm("just a string\n"), "not a Kubernetes object");
    assert_clean_error(&krm("--- 42\n"), "not a Kubernetes object");
    assert_clean_error(
        &krm("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\nplain scalar\n"),
        "not a Kubernetes object",
    );
    assert_clean_error(&render("just a string\n"), "not a Kubernetes object");
    assert_clean_error(&krm("- a\n- b\n"), "not a Kubernetes object");
}

#[test]
fn empty_stdin_is_an_error() {
    assert_clean_error(&krm(""), "no input");
    assert_clean_error(&krm("# only a comment\n\n"), "no input");
    assert_clean_error(&krm("---\n...\n"), "no input");
}

/// `render -` with nothing to read must not print an empty success either:
/// Argo CD would prune every resource of the application. (Finding F3, fixed
/// in src while this test was written.)
#[test]
fn render_of_empty_stdin_is_an_error() {
    assert_clean_error(&render(""), "nothing to apply|no input");
    assert_clean_error(&render("# only a comment\n"), "nothing to apply|no input");
}

#[test]
fn a_truncated_stream_is_an_error() {
    let full = std::fs::read_to_string(common::repo("examples/connections/resource-list.yaml"))
        .expect("the connections example");
    // Cut inside a flow collection and inside a quoted string.
    let flow_cut = full.find("[secret1,").expect("a flow list") + 9;
    assert_clean_error(&krm(&full[..flow_cut]), "not valid YAML");
    let quote_cut = full.find("[\"python\"").expect("a quoted string") + 4;
    assert_clean_error(&krm(&full[..quote_cut]), "not valid YAML");
    assert_clean_error(&render(&full[..quote_cut]), "not valid YAML");
    assert_clean_error(
        &krm(
            "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: x\n",
        ),
        "not valid YAML",
    );
}

/// A mapping of many keys is valid input and must be accepted. (Its time is
/// in the benchmark: duplicate-key detection is quadratic, finding F2.)
#[test]
fn a_wide_mapping_is_accepted() {
    let mut input =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: wide}\ndata:\n");
    for i in 0..20_000 {
        input.push_str(&format!("  k{i}: v\n"));
    }
    let out = run_limited(&[], input.into_bytes(), SMALL_AS, Duration::from_secs(300));
    assert_eq!(out.code, Some(0), "{}", out.describe());
    eprintln!("{:.2?} for 20,000 keys", out.elapsed);
}

// ---------------------------------------------------------------------------
// The fuzz corpus and findings

/// Findings F12, F13 (adversarial review of the two-thread work): the
/// second threads had the default 2 MiB stack, so a value nested some
/// thousands of levels deep (`--max-depth` raised) in the second half of a
/// large list, or in the second half of its operations, overflowed it and
/// aborted the process, where the main thread (8 MiB) got through.
#[test]
fn f12_f13_deep_values_on_a_second_thread_do_not_overflow_it() {
    const DEPTH: usize = 12_000;
    let deep = format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH));
    let mut list =
        String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
    for i in 0..4000 {
        list.push_str(&format!(
            "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a{i}\n  data:\n    k: v{i}\n"
        ));
        if i == 3500 {
            list.push_str(&format!(
                "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {{name: deep}}\n  data:\n    x: {deep}\n"
            ));
        }
    }
    let seed = std::fs::read_to_string(common::repo("examples/seed/resource-list.yaml"))
        .expect("the seed example");
    let op = &seed[seed.find("- apiVersion").expect("an item")..];
    let mut ops = String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
    for i in 0..20 {
        let mut item = op.replace("name: mount-secrets", &format!("name: op{i}"));
        if i == 15 {
            item = item.replace(
                "        image: python:3.12-slim",
                &format!("        image: python:3.12-slim\n        bogus: {deep}"),
            );
        }
        ops.push_str(&item);
    }
    for input in [list, ops] {
        let out = run_limited(
            &["--max-depth", "1000000"],
            input.into_bytes(),
            SMALL_AS,
            Duration::from_secs(120),
        );
        assert!(matches!(out.code, Some(0 | 1)), "{}", out.describe());
    }
}

fn fuzz_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![common::repo("fuzz/regressions")];
    for entry in std::fs::read_dir(common::repo("fuzz/corpus")).expect("fuzz/corpus") {
        dirs.push(entry.expect("an entry").path());
    }
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("an entry").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Every seed and finding, in KRM and render mode: exit 0 or 1, never a
/// signal, a panic (101) or a usage exit; exit 0 never with empty KRM output;
/// exit 1 in render mode never with output.
#[test]
fn fuzz_corpus_and_regressions_never_crash() {
    let files = fuzz_files();
    assert!(files.len() > 20, "the corpus is in fuzz/corpus/<target>/");
    let mut failures = Vec::new();
    for path in &files {
        let input = std::fs::read(path).expect("read a corpus file");
        let name = path
            .strip_prefix(common::repo(""))
            .unwrap_or(path)
            .display()
            .to_string();
        if let Ok(text) = std::str::from_utf8(&input)
            && !polyaxon_krm::yaml::agrees_with_one_reading(text)
        {
            failures.push(format!("{name}: read in two, it reads differently"));
        }
        let k = krm(input.clone());
        if k.timed_out || !matches!(k.code, Some(0 | 1)) {
            failures.push(format!("{name} (KRM mode): {}", k.describe()));
        } else if k.code == Some(0) && k.stdout.is_empty() {
            failures.push(format!("{name} (KRM mode): exit 0 with empty output"));
        } else if k.code == Some(1) && k.stderr.is_empty() {
            failures.push(format!("{name} (KRM mode): exit 1 without a message"));
        } else if k.code == Some(0) && passing_through(&input) != passing_through(&k.stdout) {
            failures.push(format!(
                "{name} (KRM mode): an item that passes through changed"
            ));
        }
        let r = render(input);
        if r.timed_out || !matches!(r.code, Some(0 | 1)) {
            failures.push(format!("{name} (render mode): {}", r.describe()));
        } else if r.code == Some(1) && !r.stdout.is_empty() {
            failures.push(format!("{name} (render mode): exit 1 with output"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

fn passing_through(bytes: &[u8]) -> Option<Vec<serde_json::Value>> {
    polyaxon_krm::read::passing_through_values(std::str::from_utf8(bytes).ok()?)
}

fn regression(name: &str) -> Vec<u8> {
    let path: &Path = &common::repo("fuzz/regressions").join(name);
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Finding F1 (fuzz target krm, fixed in src while this test was written):
/// a function config whose `data.defaults` is not valid YAML was reported,
/// yet the operation was still converted with the rest of the config and the
/// run exited 1 with a changed list. An error must give the items back
/// unchanged (DESIGN.md, "Errors").
#[test]
fn f1_config_error_gives_items_back_unchanged() {
    let input = regression("krm-config-error-still-converts.yaml");
    let out = krm(input.clone());
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let text = String::from_utf8(out.stdout.clone()).expect("UTF-8");
    assert!(
        !text.contains("kind: Job"),
        "no Job on error\n{}",
        out.describe()
    );
    assert!(
        !text.contains("local-config"),
        "the source is not marked on error\n{}",
        out.describe()
    );
    assert!(out.stderr.contains("data.defaults"), "{}", out.describe());
}

/// Findings F5 and F6 (fuzz target krm): a flow-mapping key that spans lines
/// in the input was written back on one line, longer than the 1024
/// characters YAML allows an implicit key, so our own output no longer
/// parsed. The output of a successful run must read back and be a fixed
/// point.
#[test]
fn f5_f6_long_flow_keys_are_written_explicitly() {
    for name in [
        "krm-long-flow-key-json.json",
        "krm-long-flow-key-folded.json",
        "krm-long-flow-key-multiline-key.json",
    ] {
        let first = krm(regression(name));
        assert_eq!(first.code, Some(0), "{name}: {}", first.describe());
        let second = krm(first.stdout.clone());
        assert_eq!(
            second.code,
            Some(0),
            "{name}, fed back: {}",
            second.describe()
        );
        assert!(second.stdout == first.stdout, "{name}: f(f(x)) != f(x)");
    }
}
