//! In-process benchmarks (divan) of each pipeline stage on generated
//! ResourceLists, beside the bare YAML parse + emit floor:
//!
//!   cargo bench --bench convert
//!
//! Whole-process figures (ratios, cold start, peak RSS) come from
//! scripts/bench.sh; see BENCHMARKS.md.

use std::ffi::OsString;

use divan::{Bencher, black_box};
use polyaxon_krm::app::{self, Io};
use polyaxon_krm::convert::{self, Item};
use polyaxon_krm::read::{self, Envelope};
use polyaxon_krm::yaml::{self, Limits, Node};
use polyaxon_krm::{config, write};

#[allow(dead_code)] // the generator's command-line parts serve gen-resource-list
mod fixtures;

const SIZES: &[usize] = &[1_000, 10_000];

fn main() {
    divan::main();
}

fn input(items: usize) -> String {
    fixtures::generate(&fixtures::Options {
        items,
        ..fixtures::Options::default()
    })
}

/// Our YAML module alone: parse, then emit every document.
#[divan::bench(args = SIZES, sample_count = 10)]
fn baseline_parse_emit(bencher: Bencher, items: usize) {
    let text = input(items);
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench(|| {
            let docs = yaml::parse_stream(black_box(&text), &Limits::default()).expect("parses");
            let roots: Vec<&Node> = docs.iter().filter_map(|d| d.root.as_ref()).collect();
            yaml::write_stream(&roots)
        });
}

#[divan::bench(args = SIZES, sample_count = 10)]
fn parse(bencher: Bencher, items: usize) {
    let text = input(items);
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench(|| yaml::parse_stream(black_box(&text), &Limits::default()).expect("parses"));
}

#[divan::bench(args = SIZES, sample_count = 10)]
fn read_krm(bencher: Bencher, items: usize) {
    let text = input(items);
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench(|| read::read_krm(black_box(&text), &Limits::default()).expect("reads"));
}

fn read_input(items: usize) -> (Vec<Item>, config::Config, Option<Node>) {
    read_text(&input(items))
}

fn read_text(text: &str) -> (Vec<Item>, config::Config, Option<Node>) {
    let input = read::read_krm(text, &Limits::default()).expect("reads");
    let fc = input
        .function_config
        .expect("the generator writes a catalog");
    let (config, findings) = config::load(&fc);
    assert!(findings.is_empty(), "{findings:?}");
    (input.items, config, Some(fc))
}

/// The pure converter on every item (20 % PolyaxonOperations).
#[divan::bench(args = SIZES, sample_count = 10)]
fn convert(bencher: Bencher, items: usize) {
    let (list, config, _) = read_input(items);
    bencher
        .counter(divan::counter::ItemsCount::new(items))
        .with_inputs(|| list.clone())
        .bench_values(|list| {
            let outcome = convert::convert(list, &config);
            assert!(!outcome.failed());
            outcome
        });
}

/// The converter on items it only passes through (no operations): what
/// the converter costs beyond converting.
#[divan::bench(args = SIZES, sample_count = 10)]
fn convert_pass_through(bencher: Bencher, items: usize) {
    let (list, config, _) = read_text(&fixtures::generate(&fixtures::Options {
        items,
        operations_percent: 0,
        ..fixtures::Options::default()
    }));
    bencher
        .counter(divan::counter::ItemsCount::new(items))
        .with_inputs(|| list.clone())
        .bench_values(|list| convert::convert(list, &config));
}

#[divan::bench(args = SIZES, sample_count = 10)]
fn write(bencher: Bencher, items: usize) {
    let text = input(items);
    let (list, config, fc) = read_text(&text);
    let outcome = convert::convert(list, &config);
    let envelope = Envelope::ResourceList {
        api_version: "config.kubernetes.io/v1".into(),
        kind: "ResourceList".into(),
    };
    bencher
        .counter(divan::counter::ItemsCount::new(items))
        .bench(|| {
            write::krm_output(
                &envelope,
                &outcome.items,
                &text,
                fc.as_ref(),
                &outcome.results,
            )
        });
}

fn run_app(args: &[&str], text: &str) -> Vec<u8> {
    let mut stdin = text.as_bytes();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut io = Io {
        stdin: &mut stdin,
        stdout: &mut stdout,
        stderr: &mut stderr,
        stdin_is_terminal: false,
    };
    let code = app::run(args.iter().map(OsString::from), &mut io);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&stderr));
    stdout
}

/// The whole KRM function in memory: read, config, convert, write.
#[divan::bench(args = SIZES, sample_count = 10)]
fn whole_function(bencher: Bencher, items: usize) {
    let text = input(items);
    bencher
        .counter(divan::counter::BytesCount::of_str(&text))
        .bench(|| run_app(&["polyaxon-krm"], black_box(&text)));
}

/// One operation, the whole function in memory (the cold-process figure is
/// in scripts/bench.sh).
#[divan::bench]
fn one_operation(bencher: Bencher) {
    let text = fixtures::generate(&fixtures::Options {
        items: 1,
        operations_percent: 100,
        ..fixtures::Options::default()
    });
    bencher.bench(|| run_app(&["polyaxon-krm"], black_box(&text)));
}
