//! YAML round-trip fidelity (tests/data/yaml-fidelity, see its README).
//!
//! Each of the 224 one-resource files goes into a ResourceList as an item,
//! through the binary, and back out. Then:
//! 1. kustomize (`kubectl kustomize`, YAML 1.2 via kyaml) reads the original
//!    and the output, and so does kubectl (`kubectl annotate --local`, YAML 1.1
//!    via go-yaml v2): every resource must read the same (value, type, key).
//!    Only the five files the README names may differ.
//! 2. Strings in the input are not written as plain text that a YAML 1.1 or
//!    1.2 reader retypes (`yes`, `on`, `0755`, `1e3`, `12:30`, …), and plain
//!    scalars that a reader would type are written as they came.
//! 3. The binary is idempotent on its own output.
//!
//! Needs `kubectl` on PATH (it is on every machine of the project and in CI).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use polyaxon_krm::yaml::{self, Limits, Node, Style, Value};

const BIN: &str = env!("CARGO_BIN_EXE_polyaxon-krm");

/// The only files whose reading may differ (README): `on`/`y`/merge keys that
/// kustomize and kubectl read differently, and `.inf`/`.nan` that JSON cannot
/// carry.
const ALLOWED_TO_DIFFER: [&str; 5] = [
    "r06_merge_key",
    "r09_plain_on",
    "r13_plain_y",
    "t14_inf",
    "t15_nan",
];
/// Files for which a clean error result from the binary is also right.
const ERROR_IS_FINE: [&str; 2] = ["t14_inf", "t15_nan"];

/// Files per `kubectl kustomize` run.
const BATCH: usize = 32;

struct Case {
    /// File stem, e.g. `b00_on`.
    stem: String,
    file: String,
    text: String,
    /// `metadata.name`, how kustomize's and kubectl's outputs are matched up.
    resource: String,
    /// What expected.json says the value is meant to be.
    meant: String,
}

struct Run {
    exit: i32,
    stdout: String,
    stderr: String,
    /// The item taken back out of the output, de-indented.
    item: Result<String, String>,
    /// The binary said no with an error result (exit 1, `severity: error`).
    error_result: bool,
    /// Output of a second run on the first run's output.
    second: String,
}

struct Fixture {
    cases: Vec<Case>,
    runs: Vec<Run>,
    _dir: tempfile::TempDir,
    /// Per case: what kustomize prints for the original and for the output.
    kustomize: Vec<(Reading, Reading)>,
    /// Per case: what kubectl reads (as JSON) for the original and the output.
    kubectl: Vec<(Reading, Reading)>,
}

type Reading = Result<String, String>;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/yaml-fidelity")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let cases = load_cases();
    let runs = parallel_map(&cases, |case| run_case(&case.text));
    let dir = tempfile::tempdir().expect("temp dir");
    let originals: Vec<(String, Option<String>)> = cases
        .iter()
        .map(|c| (c.file.clone(), Some(c.text.clone())))
        .collect();
    let outputs: Vec<(String, Option<String>)> = cases
        .iter()
        .zip(&runs)
        .map(|(c, r)| (c.file.clone(), r.item.as_ref().ok().cloned()))
        .collect();
    let names: Vec<&str> = cases.iter().map(|c| c.resource.as_str()).collect();
    let (k_orig, k_out) = std::thread::scope(|s| {
        let a =
            s.spawn(|| kustomize_side(&dir.path().join("kustomize-original"), &originals, &names));
        let b = s.spawn(|| kustomize_side(&dir.path().join("kustomize-output"), &outputs, &names));
        (a.join().expect("kustomize"), b.join().expect("kustomize"))
    });
    let c_orig = kubectl_side(&dir.path().join("kubectl-original"), &originals);
    let c_out = kubectl_side(&dir.path().join("kubectl-output"), &outputs);
    Fixture {
        kustomize: k_orig.into_iter().zip(k_out).collect(),
        kubectl: c_orig.into_iter().zip(c_out).collect(),
        cases,
        runs,
        _dir: dir,
    }
}

fn load_cases() -> Vec<Case> {
    let dir = data_dir();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("expected.json is JSON");
    let expected = expected.as_object().expect("expected.json is an object");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("cases"))
        .expect("cases dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let cases: Vec<Case> = files
        .iter()
        .map(|path| {
            let stem = path
                .file_stem()
                .expect("stem")
                .to_string_lossy()
                .to_string();
            let text = std::fs::read_to_string(path).expect("case file");
            let docs = yaml::parse_stream(&text, &Limits::default()).expect("case parses");
            let resource = docs
                .first()
                .and_then(|d| d.root.as_ref())
                .and_then(|r| r.get_path(&["metadata", "name"]))
                .and_then(Node::as_str)
                .expect("metadata.name")
                .to_string();
            let meant = expected
                .get(&stem)
                .map(|e| e["value"].to_string())
                .unwrap_or_else(|| panic!("{stem} is not in expected.json"));
            Case {
                file: format!("{stem}.yaml"),
                stem,
                text,
                resource,
                meant,
            }
        })
        .collect();
    assert_eq!(cases.len(), 224, "expected 224 case files");
    assert_eq!(
        expected.len(),
        cases.len(),
        "expected.json lists other files"
    );
    let mut names: Vec<&str> = cases.iter().map(|c| c.resource.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names.len(),
        cases.len(),
        "metadata.name must be unique per file"
    );
    cases
}

/// Runs `f` over `items` on a few threads, keeping the order.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 8);
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        done.push((i, f(item)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn run_binary(input: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child.wait_with_output().expect("run the binary");
    writer.join().expect("writer").expect("write stdin");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The file as the one item of a ResourceList (same line ends as the file).
fn wrap(text: &str) -> String {
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut out =
        format!("apiVersion: config.kubernetes.io/v1{nl}kind: ResourceList{nl}items:{nl}");
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if i == 0 {
            out.push_str("- ");
        } else if !line.trim_end_matches(['\r', '\n']).is_empty() {
            out.push_str("  ");
        }
        out.push_str(line);
    }
    if !out.ends_with('\n') {
        out.push_str(nl);
    }
    out
}

/// The one item of a ResourceList the binary wrote, as a document of its own.
fn extract_item(output: &str) -> Result<String, String> {
    let mut lines = output.split_inclusive('\n');
    if !lines.any(|l| l == "items:\n") {
        return Err("no `items:` line in the output".into());
    }
    let first = lines
        .next()
        .and_then(|l| l.strip_prefix("- "))
        .ok_or("`items:` is not followed by `- `")?;
    let mut item = first.to_string();
    for line in lines {
        if line == "\n" {
            item.push('\n');
        } else if let Some(rest) = line.strip_prefix("  ") {
            item.push_str(rest);
        } else {
            break;
        }
    }
    Ok(item)
}

fn run_case(text: &str) -> Run {
    let (exit, stdout, stderr) = run_binary(&wrap(text));
    let item = extract_item(&stdout);
    let error_result =
        exit == 1 && stdout.contains("\nresults:\n") && stdout.contains("severity: error");
    let (_, second, _) = run_binary(&stdout);
    Run {
        exit,
        stdout,
        stderr,
        item,
        error_result,
        second,
    }
}

fn kubectl() -> Command {
    let mut cmd = Command::new("kubectl");
    // Nothing here may reach a cluster.
    cmd.env("KUBECONFIG", "/dev/null");
    cmd
}

/// Errors name our temp dirs; take them out so both sides compare.
fn clean_error(text: &str, dir: &Path) -> String {
    let text = text.replace(&dir.display().to_string(), "<dir>");
    text.lines()
        .map(|l| match l.find("] ") {
            Some(at) if l.starts_with(['E', 'W', 'I']) => &l[at + 2..],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn kustomize_dir(dir: &Path, files: &[(&str, &str)]) -> Result<String, String> {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut kustomization = String::from("resources:\n");
    for (name, text) in files {
        std::fs::write(dir.join(name), text).expect("write resource");
        writeln!(kustomization, "- {name}").expect("write");
    }
    std::fs::write(dir.join("kustomization.yaml"), kustomization).expect("write kustomization");
    let output = kubectl()
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("kubectl must be on PATH to run the fidelity check");
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).expect("UTF-8"))
    } else {
        Err(clean_error(&String::from_utf8_lossy(&output.stderr), dir))
    }
}

/// kustomize's reading of each file: what it prints for the resource, or its
/// error. Files go in batches; a batch that fails is read file by file.
fn kustomize_side(dir: &Path, files: &[(String, Option<String>)], names: &[&str]) -> Vec<Reading> {
    let mut readings: Vec<Option<Reading>> = vec![None; files.len()];
    for (b, chunk) in files.chunks(BATCH).enumerate() {
        let base = b * BATCH;
        let present: Vec<(usize, &str, &str)> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, (name, text))| Some((base + i, name.as_str(), text.as_deref()?)))
            .collect();
        for (i, (_, text)) in chunk.iter().enumerate() {
            if text.is_none() {
                readings[base + i] = Some(Err("no item came out of the binary".into()));
            }
        }
        let batch: Vec<(&str, &str)> = present.iter().map(|&(_, n, t)| (n, t)).collect();
        match kustomize_dir(&dir.join(format!("batch{b}")), &batch) {
            Ok(out) => {
                let docs = split_by_name(&out);
                for &(i, _, _) in &present {
                    readings[i] = Some(docs.get(names[i]).cloned().ok_or_else(|| {
                        format!("kustomize printed no resource named {}", names[i])
                    }));
                }
            }
            Err(_) => {
                for &(i, name, text) in &present {
                    let single = dir.join(format!("single-{i}"));
                    let reading = kustomize_dir(&single, &[(name, text)]);
                    readings[i] =
                        Some(reading.map(|out| out.trim_start_matches("---\n").to_string()));
                }
            }
        }
    }
    readings
        .into_iter()
        .map(|r| r.expect("every file read"))
        .collect()
}

/// Splits kustomize's `---` stream into resources keyed by metadata.name.
fn split_by_name(stream: &str) -> BTreeMap<String, String> {
    let mut docs = BTreeMap::new();
    for doc in stream.split("\n---\n") {
        let doc = doc.trim_start_matches("---\n");
        let mut in_metadata = false;
        for line in doc.lines() {
            if line == "metadata:" {
                in_metadata = true;
            } else if in_metadata && let Some(name) = line.strip_prefix("  name: ") {
                let mut text = doc.to_string();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                docs.insert(name.trim_matches('"').to_string(), text);
                break;
            } else if !line.starts_with(' ') {
                in_metadata = false;
            }
        }
    }
    docs
}

/// kubectl's reading (go-yaml v2, YAML 1.1) of each file as JSON, or its error.
/// One run reads the whole folder; a file it cannot read is named on stderr.
fn kubectl_side(dir: &Path, files: &[(String, Option<String>)]) -> Vec<Reading> {
    std::fs::create_dir_all(dir).expect("mkdir");
    for (name, text) in files {
        if let Some(text) = text {
            std::fs::write(dir.join(name), text).expect("write");
        }
    }
    let output = kubectl()
        .args(["annotate", "--local", "-o", "json", "-f"])
        .arg(dir)
        .arg("polyaxon-krm.dev/fidelity-check=1")
        .output()
        .expect("kubectl must be on PATH to run the fidelity check");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let mut by_name: BTreeMap<String, String> = BTreeMap::new();
    for value in serde_json::Deserializer::from_str(&stdout).into_iter::<serde_json::Value>() {
        let value = value.expect("kubectl prints JSON");
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        by_name.insert(name, serde_json::to_string_pretty(&value).expect("JSON"));
    }
    files
        .iter()
        .map(|(file, text)| {
            if text.is_none() {
                return Err("no item came out of the binary".into());
            }
            let path = dir.join(file).display().to_string();
            if let Some(line) = stderr.lines().find(|l| l.contains(&path)) {
                return Err(line.replace(&path, &format!("<dir>/{file}")));
            }
            let docs = yaml::parse_stream(text.as_deref().unwrap_or_default(), &Limits::default());
            let name = docs
                .ok()
                .and_then(|d| d.into_iter().next())
                .and_then(|d| d.root)
                .and_then(|r| {
                    r.get_path(&["metadata", "name"])
                        .and_then(Node::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default();
            by_name
                .get(&name)
                .cloned()
                .ok_or_else(|| format!("kubectl read no resource named {name:?}: {stderr}"))
        })
        .collect()
}

fn allowed(case: &Case) -> bool {
    ALLOWED_TO_DIFFER.contains(&case.stem.as_str())
}

fn clean_error_ok(case: &Case, run: &Run) -> bool {
    ERROR_IS_FINE.contains(&case.stem.as_str()) && run.error_result
}

fn indent_block(text: &str) -> String {
    text.lines().map(|l| format!("      {l}\n")).collect()
}

fn show(reading: &Reading) -> String {
    match reading {
        Ok(text) => indent_block(text),
        Err(e) => indent_block(&format!("error: {e}")),
    }
}

/// Compares one reader's readings; returns (equal, failures).
fn compare_readings(reader: &str, readings: &[(Reading, Reading)]) -> (usize, Vec<String>) {
    let fx = fixture();
    let mut equal = 0;
    let mut failures = Vec::new();
    for ((case, run), (original, output)) in fx.cases.iter().zip(&fx.runs).zip(readings) {
        if clean_error_ok(case, run) {
            continue;
        }
        if run.exit != 0 {
            failures.push(format!(
                "{}: the binary exited {} (meant {}):\n{}",
                case.file,
                run.exit,
                case.meant,
                indent_block(&run.stderr)
            ));
            continue;
        }
        if original == output {
            equal += 1;
        } else if !allowed(case) {
            failures.push(format!(
                "{}: {reader} reads it differently (meant {})\n    original:\n{}    output:\n{}    output item as written:\n{}",
                case.file,
                case.meant,
                show(original),
                show(output),
                indent_block(run.item.as_deref().unwrap_or("(none)")),
            ));
        }
    }
    (equal, failures)
}

#[test]
fn kustomize_reads_the_output_as_it_read_the_input() {
    let fx = fixture();
    let (equal, failures) = compare_readings("kustomize", &fx.kustomize);
    eprintln!("kustomize: {equal} of {} equal", fx.cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} files read differently by kustomize:\n{}",
        failures.len(),
        fx.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn kubectl_reads_the_output_as_it_read_the_input() {
    let fx = fixture();
    let (equal, failures) = compare_readings("kubectl (YAML 1.1)", &fx.kubectl);
    eprintln!("kubectl: {equal} of {} equal", fx.cases.len());
    assert!(
        failures.is_empty(),
        "{} of {} files read differently by kubectl:\n{}",
        failures.len(),
        fx.cases.len(),
        failures.join("\n")
    );
}

#[test]
fn output_is_idempotent() {
    let fx = fixture();
    let failures: Vec<String> = fx
        .cases
        .iter()
        .zip(&fx.runs)
        .filter(|(_, run)| run.second != run.stdout)
        .map(|(case, run)| {
            format!(
                "{}: a second run changes the output\n    first:\n{}    second:\n{}",
                case.file,
                indent_block(&run.stdout),
                indent_block(&run.second)
            )
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn retypable_strings_are_quoted_and_plain_scalars_kept() {
    let fx = fixture();
    let mut failures = Vec::new();
    for (case, run) in fx.cases.iter().zip(&fx.runs) {
        let Ok(item) = &run.item else {
            if !clean_error_ok(case, run) {
                failures.push(format!("{}: no item in the output", case.file));
            }
            continue;
        };
        let parse = |text: &str| {
            yaml::parse_stream(text, &Limits::default())
                .ok()
                .and_then(|d| d.into_iter().next())
                .and_then(|d| d.root)
        };
        let (Some(input), Some(output)) = (parse(&case.text), parse(item)) else {
            failures.push(format!(
                "{}: output does not parse:\n{}",
                case.file,
                indent_block(item)
            ));
            continue;
        };
        let mut problems = Vec::new();
        check_scalars(&input, &output, "", &mut problems);
        for problem in problems {
            failures.push(format!("{}: {problem}\n{}", case.file, indent_block(item)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Walks input and output together. A scalar that is a string to every reader
/// must not come out as plain text some reader retypes; a plain scalar that
/// some reader types must come out as the same plain text; tags stay.
fn check_scalars(input: &Node, output: &Node, path: &str, problems: &mut Vec<String>) {
    match (&input.value, &output.value) {
        (Value::Scalar(i), Value::Scalar(o)) => {
            if i.tag != o.tag {
                problems.push(format!("{path}: tag {:?} became {:?}", i.tag, o.tag));
            }
            let string_to_all = match i.tag.as_deref() {
                Some("!!str" | "!") => true,
                Some(_) => false,
                None => i.style != Style::Plain || yaml_type(&i.text).is_none(),
            };
            if string_to_all {
                if o.style == Style::Plain
                    && o.tag.is_none()
                    && let Some(kind) = yaml_type(&o.text)
                {
                    problems.push(format!(
                        "{path}: the string {:?} is written plain; YAML readers see a {kind}",
                        i.text
                    ));
                }
            } else if i.tag.is_none() && (o.style != Style::Plain || o.text != i.text) {
                problems.push(format!(
                    "{path}: the plain scalar {:?} ({}) was rewritten as {:?} ({:?})",
                    i.text,
                    yaml_type(&i.text).unwrap_or("string"),
                    o.text,
                    o.style
                ));
            }
        }
        (Value::Seq(i, _), Value::Seq(o, _)) if i.len() == o.len() => {
            for (n, (a, b)) in i.iter().zip(o).enumerate() {
                check_scalars(a, b, &format!("{path}[{n}]"), problems);
            }
        }
        (Value::Map(i, _), Value::Map(o, _)) if i.len() == o.len() => {
            for ((ik, iv), (ok, ov)) in i.iter().zip(o) {
                let key = format!("{path}.{}", ik.scalar_text().unwrap_or("?"));
                check_scalars(ik, ok, &format!("{key} (key)"), problems);
                check_scalars(iv, ov, &key, problems);
            }
        }
        _ => problems.push(format!("{path}: the structure changed")),
    }
}

/// What a plain scalar is to the YAML readers Kubernetes tools use, when it
/// is not a string: YAML 1.1 (PyYAML; go-yaml v2 in kubectl, which also
/// takes `y`/`n` and Go number syntax) and YAML 1.2 core (yaml.v3 in
/// kustomize). Written here independently of the emitter's own check.
fn yaml_type(text: &str) -> Option<&'static str> {
    const BOOLS: [&str; 22] = [
        "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false",
        "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
    ];
    if BOOLS.contains(&text) {
        return Some("boolean");
    }
    if matches!(text, "" | "~" | "null" | "Null" | "NULL") {
        return Some("null");
    }
    if text == "<<" {
        return Some("merge key");
    }
    if text == "=" {
        return Some("value key");
    }
    let signed = text.starts_with(['-', '+']);
    let body = if signed { &text[1..] } else { text };
    let is = |s: &str, f: fn(char) -> bool| !s.is_empty() && s.chars().all(f);
    let dec = |c: char| c.is_ascii_digit() || c == '_';
    let lower = body.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("0b")
        && is(rest, |c| matches!(c, '0' | '1' | '_'))
    {
        return Some("binary integer");
    }
    if let Some(rest) = lower.strip_prefix("0x")
        && is(rest, |c| c.is_ascii_hexdigit() || c == '_')
    {
        return Some("hexadecimal integer");
    }
    if let Some(rest) = lower.strip_prefix("0o")
        && is(rest, |c| matches!(c, '0'..='7' | '_'))
    {
        return Some("octal integer");
    }
    if body.starts_with(|c: char| c.is_ascii_digit()) && is(body, dec) {
        return Some(if body.len() > 1 && body.starts_with('0') {
            "octal integer (YAML 1.1) or number"
        } else {
            "integer"
        });
    }
    // Sexagesimal (base 60): 12:30, 1:20:30, 190:20:30.5
    if let Some((head, rest)) = body.split_once(':')
        && body.starts_with(|c: char| c.is_ascii_digit())
        && is(head, dec)
    {
        let parts: Vec<&str> = rest.split(':').collect();
        let ok = parts.iter().enumerate().all(|(n, part)| {
            let (whole, frac) = match part.split_once('.') {
                Some((w, f)) if n + 1 == parts.len() => (w, Some(f)),
                _ => (*part, None),
            };
            (1..=2).contains(&whole.len())
                && is(whole, |c| c.is_ascii_digit())
                && frac.is_none_or(|f| f.chars().all(dec))
        });
        if ok {
            return Some("sexagesimal number");
        }
    }
    if matches!(body, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return Some("float");
    }
    // Floats: PyYAML wants a dot, go-yaml v2 and YAML 1.2 also take 1e3.
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let mantissa_ok = mantissa.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && mantissa.contains(|c: char| c.is_ascii_digit())
        && mantissa.chars().all(|c| dec(c) || c == '.');
    let exponent_ok = exponent.is_none_or(|e| {
        is(e.strip_prefix(['-', '+']).unwrap_or(e), |c| {
            c.is_ascii_digit()
        })
    });
    if mantissa_ok && exponent_ok && (mantissa.contains('.') || exponent.is_some()) {
        return Some("float");
    }
    // Timestamps: 2001-12-14, 2001-12-14t21:59:43.10-05:00, …
    let bytes = body.as_bytes();
    if !signed
        && bytes.len() >= 8
        && bytes[..4].iter().all(u8::is_ascii_digit)
        && bytes[4] == b'-'
        && bytes[5].is_ascii_digit()
    {
        return Some("timestamp");
    }
    None
}

#[test]
fn the_yaml_type_check_knows_the_retypable_strings() {
    for text in [
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "Y",
        "N",
        "true",
        "True",
        "TRUE",
        "null",
        "~",
        "",
        "0755",
        "012",
        "08",
        "1e3",
        "1E3",
        "1e+3",
        "0x1F",
        "0X1F",
        "0o17",
        "0b101",
        "1_000",
        "1__0",
        "12:30",
        "1:20:30",
        "190:20:30",
        ".inf",
        "-.inf",
        "+.inf",
        ".nan",
        ".NaN",
        "+1",
        "-0",
        "0",
        "1.",
        ".5",
        "1.0",
        "2001-12-14",
        "2001-12-14t21:59:43.10-05:00",
        "<<",
        "=",
        "12345678901234567890",
    ] {
        assert!(
            yaml_type(text).is_some(),
            "{text:?} is typed by some reader"
        );
    }
    for text in [
        "v1", "1Gi", "100m", "0.5Gi", "1e3m", "0x", "1,000", "nan", "inf", "Infinity", "a:b",
        "web", "=x", "<<x", "yes!", ".", "-",
    ] {
        assert_eq!(
            yaml_type(text),
            None,
            "{text:?} is a string to every reader"
        );
    }
}

#[test]
fn fidelity_summary() {
    let fx = fixture();
    let (k_equal, _) = compare_readings("kustomize", &fx.kustomize);
    let (c_equal, _) = compare_readings("kubectl", &fx.kubectl);
    let errors: Vec<&str> = fx
        .cases
        .iter()
        .zip(&fx.runs)
        .filter(|(c, r)| clean_error_ok(c, r))
        .map(|(c, _)| c.stem.as_str())
        .collect();
    eprintln!(
        "yaml fidelity: kustomize {k_equal} of {n} equal, kubectl {c_equal} of {n} equal, clean errors: {errors:?}",
        n = fx.cases.len()
    );
    // Every file either reads the same or is one of the allowed five.
    assert!(k_equal + ALLOWED_TO_DIFFER.len() >= fx.cases.len());
}
