//! Property tests of the whole program, in memory through `app::run`:
//!
//! - random KRM streams (maps, lists and scalars in every YAML style, flow and
//!   block, random keys, nesting; ResourceList, `kind: List` or a bare
//!   stream; LF or CRLF) pass through with every item equal in value, scalar
//!   text and kind, and in order;
//! - f(f(x)) == f(x) byte for byte, and the same input gives the same bytes;
//! - an error run gives back every item unchanged;
//! - random PolyaxonOperations (env, envFrom, volumes, mounts, init
//!   containers, connections from a catalog) never panic, and every Job they
//!   produce deserializes into k8s-openapi's `batch/v1` Job and passes the
//!   API server's basic pod checks (unique names, mounts of existing volumes).
//!
//! `PROPTEST_CASES=N` runs more cases than the default, which is kept small so
//! the file takes a few seconds in `cargo test`.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fmt::Write as _;

use polyaxon_krm::app::{self, Io};
use polyaxon_krm::yaml::{self, Limits, Node, Resolved, Value};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError};

// ---------------------------------------------------------------------------
// Running the program

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], input: &str) -> Run {
    let mut stdin = input.as_bytes();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code = {
        let mut io = Io {
            stdin: &mut stdin,
            stdout: &mut stdout,
            stderr: &mut stderr,
            stdin_is_terminal: false,
        };
        app::run(args.iter().map(OsString::from), &mut io)
    };
    Run {
        code,
        stdout: String::from_utf8(stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(stderr).expect("stderr is UTF-8"),
    }
}

fn krm(input: &str) -> Run {
    run(&["polyaxon-krm"], input)
}

// ---------------------------------------------------------------------------
// A comparison stricter than JSON: every scalar keeps its resolved kind and
// its text (so `0755` stays `0755`, `"yes"` stays a string, `1.10` is not
// `1.1`), tags are kept, maps keep their order.

#[derive(Debug, PartialEq)]
enum Canon {
    Null,
    Bool(bool),
    Int(String),
    Float(String),
    Str(String),
    Tagged(String, String),
    Seq(Vec<Canon>),
    Map(Vec<(String, Canon)>),
}

fn canon(node: &Node) -> Canon {
    match &node.value {
        Value::Scalar(s) => match (&s.tag, s.resolve()) {
            (Some(tag), _) if tag != "!!str" => Canon::Tagged(tag.clone(), s.text.clone()),
            (_, Resolved::Null) => Canon::Null,
            (_, Resolved::Bool(b)) => Canon::Bool(b),
            (_, Resolved::Int(t)) => Canon::Int(t.to_string()),
            (_, Resolved::Float(t)) => Canon::Float(t.to_string()),
            (_, Resolved::Str(t)) => Canon::Str(t.to_string()),
        },
        Value::Seq(items, _) => Canon::Seq(items.iter().map(canon).collect()),
        Value::Map(entries, _) => Canon::Map(
            entries
                .iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default().to_string(), canon(v)))
                .collect(),
        ),
    }
}

/// The items of a ResourceList, `kind: List` or bare stream, in order.
fn items(text: &str) -> Vec<Node> {
    let input = polyaxon_krm::read::read_krm(text, &Limits::default())
        .unwrap_or_else(|e| panic!("cannot read back:\n{text}\n{e:?}"));
    input.items.into_iter().map(|i| i.node).collect()
}

// ---------------------------------------------------------------------------
// Random YAML text in every style

#[derive(Clone, Debug)]
enum Y {
    Plain(String),
    Single(String),
    Double(String),
    Literal(String),
    Folded(String),
    Seq(Vec<Y>, bool),
    Map(Vec<(Key, Y)>, bool),
}

#[derive(Clone, Debug)]
enum Key {
    Plain(String),
    Quoted(String),
}

fn plain_text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Texts that resolve to other types, or that YAML 1.1 readers would.
        prop::sample::select(vec![
            "0755",
            "1.10",
            "12",
            "-5",
            "+3",
            "0x1F",
            "0o17",
            "1e3",
            ".5",
            ".inf",
            "-.Inf",
            ".nan",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "true",
            "False",
            "NULL",
            "null",
            "~",
            "12:30",
            "1_000",
            "2024-01-02",
            "Yes",
            "=",
            "<<",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z][a-zA-Z0-9_./-]{0,12}( [a-zA-Z0-9_./-]{1,8}){0,2}",
        "[0-9]{1,25}",
        "[0-9]{1,4}\\.[0-9]{1,4}",
    ]
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        plain_text(),
        "[ -~]{0,20}",
        "\\PC{0,12}",
        "[ a-z\t\n\r\"'\\\\#:{}\\[\\],&*!|>%@`-]{0,16}",
        Just("\u{85}\u{2028}\u{feff}\u{0}\u{1b}".to_string()),
    ]
}

fn block_text() -> impl Strategy<Value = String> {
    // Lines without leading blanks on the first line; optional trailing newline.
    (
        "[a-z#:'\"{}-][ -~]{0,20}",
        prop::collection::vec("( {0,3}[ -~]{0,20})?", 0..5),
        0..3usize,
    )
        .prop_map(|(first, rest, trailing)| {
            let mut text = first.trim_end().to_string();
            for line in rest {
                text.push('\n');
                text.push_str(line.trim_end());
            }
            text.push_str(&"\n".repeat(trailing));
            text
        })
}

fn key() -> impl Strategy<Value = Key> {
    prop_oneof![
        4 => "[a-zA-Z][a-zA-Z0-9_./-]{0,15}".prop_map(Key::Plain),
        1 => any_text().prop_map(Key::Quoted),
    ]
}

fn scalar() -> impl Strategy<Value = Y> {
    prop_oneof![
        3 => plain_text().prop_map(Y::Plain),
        1 => any_text().prop_map(Y::Single),
        2 => any_text().prop_map(Y::Double),
        1 => block_text().prop_map(Y::Literal),
        1 => block_text().prop_map(Y::Folded),
    ]
}

fn unique_keys(entries: Vec<(Key, Y)>) -> Vec<(Key, Y)> {
    let mut seen = HashSet::new();
    entries
        .into_iter()
        .filter(|(k, _)| {
            let text = match k {
                Key::Plain(t) | Key::Quoted(t) => t.clone(),
            };
            seen.insert(text)
        })
        .collect()
}

fn value() -> impl Strategy<Value = Y> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), any::<bool>())
                .prop_map(|(items, flow)| Y::Seq(items, flow)),
            (prop::collection::vec((key(), inner), 0..6), any::<bool>())
                .prop_map(|(entries, flow)| Y::Map(unique_keys(entries), flow)),
        ]
    })
}

fn single_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn double_quoted(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Single-quoted text is only safe on one line without control characters.
fn quoted_single_or_double(text: &str) -> String {
    if text
        .chars()
        .all(|c| !c.is_control() && !matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}'))
    {
        single_quoted(text)
    } else {
        double_quoted(text)
    }
}

fn key_text(key: &Key) -> String {
    match key {
        Key::Plain(t) => t.clone(),
        Key::Quoted(t) => double_quoted(t),
    }
}

/// A scalar or flow collection on one line (flow context).
fn flow(y: &Y) -> String {
    match y {
        // In flow context a plain scalar may not hold flow indicators.
        Y::Plain(t) if !t.contains([',', '[', ']', '{', '}']) && !t.contains(": ") => t.clone(),
        Y::Plain(t) | Y::Double(t) | Y::Literal(t) | Y::Folded(t) => double_quoted(t),
        Y::Single(t) => quoted_single_or_double(t),
        Y::Seq(items, _) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Y::Map(entries, _) => format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}: {}", key_text(k), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn block_scalar(out: &mut String, indicator: char, text: &str, indent: usize) {
    let trailing = text.len() - text.trim_end_matches('\n').len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let _ = writeln!(out, " {indicator}{chomp}");
    let body = text.trim_end_matches('\n');
    for line in body.split('\n') {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "{}{line}", " ".repeat(indent));
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
}

/// Writes what follows `key:` or `-` (the indicator is already written).
fn block_value(out: &mut String, y: &Y, indent: usize) {
    match y {
        Y::Literal(t) => block_scalar(out, '|', t, indent + 2),
        Y::Folded(t) => block_scalar(out, '>', t, indent + 2),
        Y::Seq(items, false) if !items.is_empty() => {
            out.push('\n');
            block_seq(out, items, indent + 2);
        }
        Y::Map(entries, false) if !entries.is_empty() => {
            out.push('\n');
            block_map(out, entries, indent + 2);
        }
        other => {
            let _ = writeln!(out, " {}", flow(other));
        }
    }
}

fn block_map(out: &mut String, entries: &[(Key, Y)], indent: usize) {
    for (k, v) in entries {
        let _ = write!(out, "{}{}:", " ".repeat(indent), key_text(k));
        block_value(out, v, indent);
    }
}

fn block_seq(out: &mut String, items: &[Y], indent: usize) {
    for item in items {
        let _ = write!(out, "{}-", " ".repeat(indent));
        block_value(out, item, indent);
    }
}

/// A KRM object: apiVersion, kind, metadata.name, then random fields.
fn object() -> impl Strategy<Value = Vec<(Key, Y)>> {
    (
        prop::sample::select(vec!["v1", "apps/v1", "example.com/v1beta1", "batch/v1"]),
        prop::sample::select(vec!["ConfigMap", "Deployment", "Widget", "Job", "Secret"]),
        "[a-z][a-z0-9-]{0,20}",
        prop::collection::vec((key(), value()), 0..6),
    )
        .prop_map(|(api, kind, name, rest)| {
            let mut entries = vec![
                (Key::Plain("apiVersion".into()), Y::Plain(api.to_string())),
                (Key::Plain("kind".into()), Y::Plain(kind.to_string())),
                (
                    Key::Plain("metadata".into()),
                    Y::Map(vec![(Key::Plain("name".into()), Y::Plain(name))], false),
                ),
            ];
            entries.extend(rest);
            unique_keys(entries)
        })
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Envelope {
    ResourceList,
    List,
    Stream,
}

fn stream_text(objects: &[Vec<(Key, Y)>], envelope: Envelope, crlf: bool) -> String {
    let mut out = String::new();
    match envelope {
        Envelope::ResourceList | Envelope::List => {
            out.push_str(if envelope == Envelope::ResourceList {
                "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n"
            } else {
                "apiVersion: v1\nkind: List\nitems:\n"
            });
            if objects.is_empty() {
                out.truncate(out.len() - 1);
                out.push_str(" []\n");
            }
            block_seq(
                &mut out,
                &objects
                    .iter()
                    .map(|o| Y::Map(o.clone(), false))
                    .collect::<Vec<_>>(),
                0,
            );
        }
        Envelope::Stream => {
            for (i, o) in objects.iter().enumerate() {
                if i > 0 || o.is_empty() {
                    out.push_str("---\n");
                }
                block_map(&mut out, o, 0);
            }
        }
    }
    if crlf { out.replace('\n', "\r\n") } else { out }
}

fn krm_stream() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(object(), 1..6),
        prop_oneof![
            Just(Envelope::ResourceList),
            Just(Envelope::List),
            Just(Envelope::Stream)
        ],
        prop::bool::weighted(0.1),
    )
        .prop_map(|(objects, envelope, crlf)| stream_text(&objects, envelope, crlf))
}

fn cases(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(cases(192))]

    /// Every item comes back equal in value (and scalar text) and in order.
    #[test]
    fn streams_pass_through_unchanged(text in krm_stream()) {
        // The input must be YAML our reader takes (the generator's own check).
        let before = items(&text);
        let out = krm(&text);
        prop_assert_eq!(out.code, 0, "stderr: {}\ninput:\n{}", out.stderr, text);
        let after = items(&out.stdout);
        prop_assert_eq!(before.len(), after.len(), "output:\n{}", out.stdout);
        for (i, (b, a)) in before.iter().zip(&after).enumerate() {
            prop_assert_eq!(canon(b), canon(a), "item {} differs\ninput:\n{}\noutput:\n{}", i, text, out.stdout);
        }
    }

    /// f(f(x)) == f(x) byte for byte, and f(x) is the same every time.
    #[test]
    fn output_is_a_fixed_point_and_deterministic(text in krm_stream()) {
        let once = krm(&text);
        prop_assert_eq!(once.code, 0, "stderr: {}", once.stderr);
        let again = krm(&text);
        prop_assert_eq!(&once.stdout, &again.stdout, "two runs differ");
        let twice = krm(&once.stdout);
        prop_assert_eq!(twice.code, 0, "stderr: {}", twice.stderr);
        prop_assert_eq!(&once.stdout, &twice.stdout, "f(f(x)) != f(x); input:\n{}", text);
    }

    /// Render mode, on the same streams: its output renders to itself.
    #[test]
    fn render_is_a_fixed_point(text in krm_stream()) {
        let once = run(&["polyaxon-krm", "render", "-"], &text);
        prop_assert_eq!(once.code, 0, "stderr: {}", once.stderr);
        let twice = run(&["polyaxon-krm", "render", "-"], &once.stdout);
        prop_assert_eq!(twice.code, 0, "stderr: {}", twice.stderr);
        prop_assert_eq!(&once.stdout, &twice.stdout, "render(render(x)) != render(x)");
    }
}

// ---------------------------------------------------------------------------
// Random PolyaxonOperations

const CATALOG: &str = "\
functionConfig:
  apiVersion: polyaxon-krm.dev/v1alpha1
  kind: RenderPolyaxon
  metadata:
    name: platform
  connections:
  - name: s3-datasets
    kind: s3
    schema: {bucket: s3://example-datasets}
    secret:
      name: aws-datasets-creds
      items: [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]
    env:
    - {name: AWS_DEFAULT_REGION, value: eu-west-1}
  - name: gcs-models
    kind: gcs
    schema: {bucket: gs://example-models}
    secret:
      name: gcs-service-account
      mountPath: /var/secrets/gcs
      items: [key.json]
  - name: training-data
    kind: volume_claim
    schema: {volumeClaim: imagenet-pvc, mountPath: /data, readOnly: true}
  - name: repo-token
    kind: custom
    secret:
      name: git-credentials
      items: [GIT_USER, GIT_TOKEN]
  - name: registry
    kind: registry
    schema: {url: registry.example.com}
    secret: {name: registry-docker-config, mountPath: /kaniko/.docker}
  - name: team-config
    kind: custom
    configMap: {name: team-config, mountPath: /etc/team}
  - name: plain-secret
    kind: custom
    secret: {name: my-secret}
";

const CONNECTIONS: &[&str] = &[
    "s3-datasets",
    "gcs-models",
    "training-data",
    "repo-token",
    "registry",
    "team-config",
    "plain-secret",
    "not-in-catalog",
];

/// Names as users write them: mostly valid, now and then not.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => "[a-z][a-z0-9-]{0,10}[a-z0-9]",
        1 => prop::sample::select(vec!["", "Upper", "under_score", "-lead", "a.b", "x".repeat(70).leak() as &str])
            .prop_map(str::to_string),
    ]
}

fn env_var(index: usize) -> impl Strategy<Value = String> {
    let env_name = prop_oneof![
        40 => "[A-Z][A-Z0-9_]{0,10}".prop_map(move |n| format!("{n}_{index}")),
        1 => prop::sample::select(vec!["1BAD", "has space", "", "AWS_DEFAULT_REGION", "GIT_TOKEN"]).prop_map(str::to_string),
    ];
    let optional = prop_oneof![10 => Just("true"), 10 => Just("false"), 1 => Just("yes")];
    (
        env_name,
        prop_oneof![10 => 0..5usize, 1 => 5..7usize],
        name(),
        name(),
        optional,
    )
        .prop_map(|(n, how, a, b, opt)| match how {
            0 => format!(
                "{{name: {}, value: {}}}",
                double_quoted(&n),
                double_quoted(&a)
            ),
            1 => format!(
                "{{name: {}, valueFrom: {{secretKeyRef: {{name: {}, key: {}, optional: {opt}}}}}}}",
                double_quoted(&n),
                double_quoted(&a),
                double_quoted(&b)
            ),
            2 => format!(
                "{{name: {}, valueFrom: {{configMapKeyRef: {{name: {}, key: {}}}}}}}",
                double_quoted(&n),
                double_quoted(&a),
                double_quoted(&b)
            ),
            3 => format!(
                "{{name: {}, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}",
                double_quoted(&n)
            ),
            4 => format!("{{name: {}}}", double_quoted(&n)),
            5 => format!("{{name: {}, value: 12}}", double_quoted(&n)),
            _ => format!("{{name: {}, value: yes}}", double_quoted(&n)),
        })
}

fn env_from() -> impl Strategy<Value = String> {
    (name(), 0..3usize, any::<bool>()).prop_map(|(n, how, optional)| match how {
        0 => format!(
            "{{secretRef: {{name: {}, optional: {optional}}}}}",
            double_quoted(&n)
        ),
        1 => format!(
            "{{configMapRef: {{name: {}}}, prefix: CFG_}}",
            double_quoted(&n)
        ),
        _ => format!("{{secretRef: {{name: {}}}}}", double_quoted(&n)),
    })
}

fn volume(n: &str) -> impl Strategy<Value = String> + use<> {
    let n = n.to_string();
    (prop_oneof![30 => 0..4usize, 1 => 4..5usize], name()).prop_map(move |(how, other)| match how {
        0 => format!("{{name: {n}, emptyDir: {{}}}}"),
        1 => format!(
            "{{name: {n}, secret: {{secretName: {}, defaultMode: 0440}}}}",
            double_quoted(&other)
        ),
        2 => format!(
            "{{name: {n}, configMap: {{name: {}, items: [{{key: a, path: b}}]}}}}",
            double_quoted(&other)
        ),
        3 => format!(
            "{{name: {n}, persistentVolumeClaim: {{claimName: {}, readOnly: true}}}}",
            double_quoted(&other)
        ),
        _ => format!("{{name: {n}, hostPath: {{path: /var/data}}}}"),
    })
}

/// Mounts of some declared volumes (now and then an undeclared one, or a
/// path a connection also uses).
fn mounts(declared: Vec<String>) -> impl Strategy<Value = Vec<String>> {
    let mut pool = declared;
    pool.push("undeclared".into());
    let len = pool.len();
    prop::sample::subsequence(pool, 0..=len.min(3)).prop_flat_map(|names| {
        names
            .into_iter()
            .map(|n| {
                let path = prop_oneof![
                    30 => Just(format!("/mnt/{n}")),
                    1 => prop::sample::select(vec!["/data", "/var/secrets/gcs", "/etc/team", "/kaniko/.docker", "relative"]).prop_map(str::to_string),
                ];
                let keep = prop_oneof![20 => Just(n != "undeclared"), 1 => Just(true)];
                (Just(n), path, any::<bool>(), keep)
            })
            .collect::<Vec<_>>()
            .prop_map(|mounts| {
                mounts
                    .into_iter()
                    .filter(|(_, _, _, keep)| *keep)
                    .map(|(n, path, ro, _)| format!("{{name: {n}, mountPath: {path}, readOnly: {ro}}}"))
                    .collect()
            })
    })
}

fn container(container_name: String, declared: Vec<String>) -> impl Strategy<Value = String> {
    let env = (0..4usize).prop_flat_map(|count| (0..count).map(env_var).collect::<Vec<_>>());
    (
        prop_oneof![20 => Just(container_name), 1 => name()],
        env,
        prop::collection::vec(env_from(), 0..3),
        mounts(declared),
        prop_oneof![10 => Just("[python, train.py]"), 1 => Just("python train.py"), 2 => Just("[sh, -c, 'echo hi']")],
    )
        .prop_map(|(n, env, env_from, mounts, command)| {
            format!(
                "{{name: {}, image: \"registry.example.com/ml/x:1\", command: {command}, env: [{}], envFrom: [{}], volumeMounts: [{}]}}",
                double_quoted(&n),
                env.join(", "),
                env_from.join(", "),
                mounts.join(", ")
            )
        })
}

fn connection() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        30 => prop::sample::select(&CONNECTIONS[..CONNECTIONS.len() - 1]),
        1 => Just("not-in-catalog"),
    ]
}

/// Init containers take custom connections (store downloads are not built yet).
fn init_connection() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        20 => prop::sample::select(vec!["repo-token", "team-config", "plain-secret"]),
        1 => connection(),
    ]
}

fn operation() -> impl Strategy<Value = String> {
    let volume_names = prop::sample::subsequence(vec!["work", "cache", "creds", "data"], 0..=4);
    volume_names.prop_flat_map(|names| {
        let declared: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let volumes: Vec<_> = names.iter().map(|n| volume(n)).collect();
        let inits = (0..3usize).prop_flat_map({
            let declared = declared.clone();
            move |count| {
                (0..count)
                    .map(|i| (prop::option::weighted(0.5, init_connection()), container(format!("init-{i}"), declared.clone())))
                    .collect::<Vec<_>>()
            }
        });
        (
            "[a-z][a-z0-9-]{0,12}[a-z0-9]",
            prop::collection::vec(connection(), 0..4),
            volumes,
            container("main".into(), declared),
            inits,
            prop_oneof![10 => Just(None), 10 => Just(Some("Never")), 5 => Just(Some("OnFailure")), 1 => Just(Some("Always"))],
        )
    })
    .prop_map(|(op_name, connections, volumes, main, inits, restart)| {
        let inits: Vec<String> = inits
            .into_iter()
            .map(|(connection, c)| match connection {
                Some(conn) => format!("{{connection: {conn}, container: {c}}}"),
                None => format!("{{container: {c}}}"),
            })
            .collect();
        let mut text = format!(
            "- apiVersion: polyaxon-krm.dev/v1alpha1\n  kind: PolyaxonOperation\n  metadata:\n    name: {op_name}\n    namespace: ml-team\n  spec:\n    version: 1.1\n    kind: component\n    run:\n      kind: job\n      connections: [{}]\n      volumes: [{}]\n      init: [{}]\n      container: {main}\n",
            connections.join(", "),
            volumes.join(", "),
            inits.join(", "),
        );
        if let Some(policy) = restart {
            let _ = writeln!(text, "      environment: {{restartPolicy: {policy}}}");
        }
        text
    })
}

fn operations_list() -> impl Strategy<Value = String> {
    prop::collection::vec(operation(), 1..4).prop_map(|ops| {
        let mut text =
            String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
        let mut names = HashSet::new();
        for op in ops {
            // One operation per name: two with the same name are a user error
            // of another kind, not what this property is about.
            let name = op.lines().nth(3).unwrap_or_default().to_string();
            if names.insert(name) {
                text.push_str(&op);
            }
        }
        text.push_str(CATALOG);
        text
    })
}

/// What the API server would reject in a pod spec that serde alone accepts.
fn pod_problems(job: &serde_json::Value) -> Vec<String> {
    let mut problems = Vec::new();
    let pod = &job["spec"]["template"]["spec"];
    let volumes: Vec<&str> = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    let unique = |names: &[&str]| names.iter().collect::<HashSet<_>>().len() == names.len();
    if !unique(&volumes) {
        problems.push(format!("duplicate volume names {volumes:?}"));
    }
    let containers: Vec<&serde_json::Value> = ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    if !unique(&names) {
        problems.push(format!("duplicate container names {names:?}"));
    }
    for c in &containers {
        let cname = c["name"].as_str().unwrap_or("?");
        let mut paths = Vec::new();
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let vname = m["name"].as_str().unwrap_or_default();
            if !volumes.contains(&vname) {
                problems.push(format!(
                    "container {cname} mounts volume {vname:?}, which is not in the pod"
                ));
            }
            let path = m["mountPath"].as_str().unwrap_or_default();
            if !path.starts_with('/') {
                problems.push(format!(
                    "container {cname} mountPath {path:?} is not absolute"
                ));
            }
            paths.push(path);
        }
        if !unique(&paths) {
            problems.push(format!(
                "container {cname} mounts two volumes at one path: {paths:?}"
            ));
        }
        for e in c["env"].as_array().into_iter().flatten() {
            if e["name"].as_str().is_none_or(str::is_empty) {
                problems.push(format!("container {cname} has an env var without a name"));
            }
        }
    }
    let restart = pod["restartPolicy"].as_str();
    if !matches!(restart, Some("Never" | "OnFailure")) {
        problems.push(format!(
            "a Job's restartPolicy must be Never or OnFailure, not {restart:?}"
        ));
    }
    problems
}

/// Never a panic or a usage exit; every Job written is a valid batch/v1
/// Job; on any error, the items come back as they were. Also checks that the
/// generator reaches both outcomes, so the property is not vacuous.
#[test]
fn operations_give_valid_jobs_or_clean_errors() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let converted = AtomicUsize::new(0);
    let rejected = AtomicUsize::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(cases(160));
    let result = runner.run(&operations_list(), |text| {
        let code = check_operations(&text)?;
        let counter = if code == 0 { &converted } else { &rejected };
        counter.fetch_add(1, Ordering::Relaxed);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let (converted, rejected) = (converted.into_inner(), rejected.into_inner());
    eprintln!("operations: {converted} converted, {rejected} rejected with an error");
    let total = converted + rejected;
    assert!(
        converted * 10 >= total && rejected * 10 >= total,
        "the generator should reach both outcomes (>= 10 % each): {converted} converted, {rejected} rejected"
    );
}

fn check_operations(text: &str) -> Result<i32, TestCaseError> {
    let before = items(text);
    let out = krm(text);
    prop_assert!(
        out.code == 0 || out.code == 1,
        "exit {}: {}",
        out.code,
        out.stderr
    );
    let after = items(&out.stdout);
    if out.code == 1 {
        prop_assert!(!out.stderr.is_empty());
        prop_assert_eq!(
            before.len(),
            after.len(),
            "an error run changed the item count"
        );
        for (b, a) in before.iter().zip(&after) {
            prop_assert_eq!(canon(b), canon(a), "an error run changed an item");
        }
        if std::env::var_os("PROPS_DEBUG").is_some() {
            eprintln!("REJECT {}", out.stderr.lines().next().unwrap_or_default());
        }
        return Ok(1);
    }
    let mut jobs = 0;
    for node in &after {
        if node.get("kind").and_then(Node::as_str) != Some("Job") {
            continue;
        }
        jobs += 1;
        let json = yaml::to_json(node);
        let typed = serde_json::from_value::<k8s_openapi::api::batch::v1::Job>(json.clone());
        prop_assert!(
            typed.is_ok(),
            "k8s-openapi rejects the Job: {:?}\n{}",
            typed.err(),
            yaml::to_string(node)
        );
        let problems = pod_problems(&json);
        prop_assert!(
            problems.is_empty(),
            "the API server would reject the Job: {:?}\ninput:\n{}\nJob:\n{}",
            problems,
            text,
            yaml::to_string(node)
        );
    }
    let ops = before
        .iter()
        .filter(|n| n.get("kind").and_then(Node::as_str) == Some("PolyaxonOperation"))
        .count();
    prop_assert_eq!(jobs, ops, "one Job per operation");
    // And the output is a fixed point.
    let twice = krm(&out.stdout);
    prop_assert_eq!(twice.code, 0, "stderr: {}", twice.stderr);
    prop_assert_eq!(&out.stdout, &twice.stdout, "f(f(x)) != f(x)");
    Ok(0)
}

/// The generator's own check: a few fixed texts it makes are YAML we read.
#[test]
fn generated_styles_parse() {
    let objects = vec![vec![
        (Key::Plain("a".into()), Y::Literal("x\n  y\n\n".into())),
        (Key::Quoted("k: #".into()), Y::Folded("p q\nr".into())),
        (
            Key::Plain("b".into()),
            Y::Seq(
                vec![
                    Y::Map(vec![(Key::Plain("c".into()), Y::Seq(vec![], false))], false),
                    Y::Seq(vec![Y::Plain("0755".into())], false),
                ],
                false,
            ),
        ),
        (
            Key::Plain("d".into()),
            Y::Map(
                vec![(Key::Plain("e".into()), Y::Single("it's".into()))],
                true,
            ),
        ),
    ]];
    for envelope in [Envelope::ResourceList, Envelope::List, Envelope::Stream] {
        let text = stream_text(&objects, envelope, false);
        let docs = yaml::parse_stream(&text, &Limits::default());
        assert!(docs.is_ok(), "{text}\n{docs:?}");
        assert_eq!(items(&text).len(), 1, "{text}");
    }
}
