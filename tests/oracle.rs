//! Differential tests against Polyaxon 2.18's own converter (connections).
//!
//! For each Polyaxon file in `tests/data/oracle` that our binary converts, the
//! `env`, `envFrom` and `volumeMounts` of every container (main, sidecars,
//! init) and the pod `volumes` of our Job must equal what Polyaxon's converter
//! emitted for it (`oracle.py --mode bare --show-compiled`, checked in as
//! `NAME.bare.out.yaml`, so CI needs no Polyaxon), once Polyaxon's platform
//! parts are dropped and each deliberate difference is applied to the oracle
//! side by its own function below (`DIFFERENCES.md` gives the reasons).
//!
//! Every case declares the differences it shows. A difference that changes
//! nothing in a case that declares it, or that changes something in a case
//! that does not, fails the case: the list in `DIFFERENCES.md` stays exact.
//! The files our binary cannot convert yet must fail with an error naming the
//! missing feature, so the skipped list stays honest too. The cases marked
//! "fails until fixed" show bugs of ours (DIFFERENCES.md, "Failing until
//! fixed"), not differences.
//!
//! Env order is compared (it matters for `$(VAR)` expansion), and so are the
//! orders of mounts and volumes (Kubernetes ignores them, but Polyaxon's
//! order is documented and we claim to follow it).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use polyaxon_krm::yaml;
use serde_json::{Map, Value as J, json};

// ---------------------------------------------------------------------------
// Cases

/// A deliberate difference from Polyaxon, applied to the oracle's output by
/// the function of the same name (see `transform`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Diff {
    ConnectionEnvAsNameValue,
    MountedItemsAsKeyPath,
    MountedConfigMapNoEnv,
    AuthorEnvWinsOverConnection,
    AuthorDuplicateEnvKept,
    NoLiteralEval,
    ShmOnlyWhenAsked,
    DuplicateConnectionUsedOnce,
    StableHashedVolumeNames,
    InitKeepsSecretEnvFrom,
    InitEnvInMainOrder,
    ShortcutEnvNoValueFrom,
}
use Diff::*;

struct Case {
    /// Path under tests/data/oracle, without `.yaml`.
    input: &'static str,
    catalog: &'static str,
    /// The input uses hostPath connections: the config must allow them.
    allow_host_path: bool,
    differences: &'static [Diff],
}

macro_rules! oracle_case {
    ($test:ident: $input:literal, $catalog:literal, host_path: $hp:literal, [$($d:ident),* $(,)?]) => {
        #[test]
        fn $test() {
            compare(&Case {
                input: $input,
                catalog: $catalog,
                allow_host_path: $hp,
                differences: &[$($d),*],
            });
        }
    };
}

// The shared oracle inputs our binary converts today.
oracle_case!(oracle_01_manual_secrets: "01_manual_secrets", "catalog.yaml", host_path: false,
    [ShmOnlyWhenAsked]);
// Fails until fixed: every Secret's mount and volume before every ConfigMap's.
oracle_case!(oracle_02_connections: "02_connections", "catalog-full.yaml", host_path: true,
    [ConnectionEnvAsNameValue, MountedItemsAsKeyPath, MountedConfigMapNoEnv, ShmOnlyWhenAsked]);
oracle_case!(oracle_04_env_termination: "04_env_termination", "catalog-full.yaml", host_path: false,
    []);
// Fails until fixed: a top-level `container:` without `run` is a job.
oracle_case!(oracle_10_shortcuts: "10_shortcuts", "catalog-full.yaml", host_path: false,
    [ShortcutEnvNoValueFrom, ShmOnlyWhenAsked]);
oracle_case!(oracle_12_literal_eval: "12_literal_eval", "catalog-full.yaml", host_path: false,
    [NoLiteralEval, ShmOnlyWhenAsked]);
oracle_case!(oracle_13_dedupe_requested: "13_dedupe_requested", "catalog-dedupe.yaml", host_path: false,
    [AuthorEnvWinsOverConnection, AuthorDuplicateEnvKept, ShmOnlyWhenAsked]);
oracle_case!(oracle_14_patch_post_merge: "14_patch_post_merge", "catalog-full.yaml", host_path: false,
    [AuthorDuplicateEnvKept, ShmOnlyWhenAsked]);
oracle_case!(oracle_14_patch_pre_merge: "14_patch_pre_merge", "catalog-full.yaml", host_path: false,
    [AuthorDuplicateEnvKept, ShmOnlyWhenAsked]);
oracle_case!(oracle_14_patch_replace: "14_patch_replace", "catalog-full.yaml", host_path: false,
    [ShmOnlyWhenAsked]);
oracle_case!(oracle_14_patch_isnull: "14_patch_isnull", "catalog-full.yaml", host_path: false,
    [ShmOnlyWhenAsked]);
oracle_case!(oracle_e17_duplicate_connection_request: "errors/e17_duplicate_connection_request", "catalog-full.yaml", host_path: false,
    [DuplicateConnectionUsedOnce, ShmOnlyWhenAsked]);
oracle_case!(oracle_e21_no_kind: "errors/e21_no_kind", "catalog-full.yaml", host_path: false,
    [ShmOnlyWhenAsked]);

// Inputs written for these tests: what the shared ones leave out (sidecars and
// init containers we convert, volume names, resource order).
oracle_case!(oracle_x01_sidecar_connections: "x01_sidecar_connections", "catalog-extra.yaml", host_path: false,
    [ConnectionEnvAsNameValue, MountedItemsAsKeyPath, MountedConfigMapNoEnv, AuthorEnvWinsOverConnection, ShmOnlyWhenAsked]);
oracle_case!(oracle_x02_custom_init: "x02_custom_init", "catalog-extra.yaml", host_path: false,
    [ConnectionEnvAsNameValue, MountedItemsAsKeyPath, MountedConfigMapNoEnv, ShmOnlyWhenAsked, InitKeepsSecretEnvFrom, InitEnvInMainOrder]);
oracle_case!(oracle_x03_volume_names: "x03_volume_names", "catalog-names.yaml", host_path: false,
    [ShmOnlyWhenAsked, StableHashedVolumeNames]);
// Fails until fixed: every Secret's items, mount and volume before every ConfigMap's.
oracle_case!(oracle_x04_resource_order: "x04_resource_order", "catalog-extra.yaml", host_path: false,
    [ShmOnlyWhenAsked]);
// Fails until fixed: init containers tied to a connection before plain ones.
oracle_case!(oracle_x05_init_order: "x05_init_order", "catalog-extra.yaml", host_path: false,
    [ConnectionEnvAsNameValue, ShmOnlyWhenAsked, InitKeepsSecretEnvFrom]);
// Fails until fixed: /dev/shm in sidecars too, right after the author's mounts.
oracle_case!(oracle_x06_shm: "x06_shm", "catalog-extra.yaml", host_path: false,
    []);

/// Shared oracle inputs that use features we do not support yet: each must
/// fail, with errors naming the feature (DIFFERENCES.md, "Skipped for now").
const UNSUPPORTED: &[(&str, &[&str])] = &[
    (
        "03_init_sidecar",
        &[
            "init handler \"paths\" copies from Polyaxon's artifacts store, which is not supported yet",
        ],
    ),
    (
        "05_operation_params",
        &["\"params.as_args\" is not defined"],
    ),
    ("06_service", &["run.kind service is not supported yet"]),
    (
        "07_pytorchjob",
        &["run.kind pytorchjob is not supported yet"],
    ),
    ("08_schedule", &["maxRuns has no CronJob equivalent"]),
    ("09_tfjob", &["run.kind tfjob is not supported yet"]),
    ("09b_mpijob", &["run.kind mpijob is not supported yet"]),
    (
        "11_plugins",
        &[
            "init handler \"artifacts\" copies from Polyaxon's artifacts store, which is not supported yet",
        ],
    ),
];

#[test]
fn unsupported_inputs_fail_naming_the_feature() {
    let mut problems = String::new();
    for (input, expected) in UNSUPPORTED {
        let out = run_binary(&read(&format!("{input}.yaml")), "catalog-full.yaml", false);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.code() != Some(1) {
            problems.push_str(&format!(
                "{input}: expected exit 1 (a feature we do not support yet), got {}: if it converts now, move it from UNSUPPORTED to an oracle_case! and from \"Skipped for now\" in DIFFERENCES.md\n{}\n",
                out.status,
                common::describe(&out)
            ));
            continue;
        }
        for text in *expected {
            if !stderr.contains(text) {
                problems.push_str(&format!(
                    "{input}: no error naming the feature ({text:?}); stderr:\n{stderr}\n"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{problems}");
}

/// What Polyaxon accepts but the API server would reject is an error here.
#[test]
fn refused_where_polyaxon_is_lax() {
    let out = run_binary(
        &read("errors/e03_missing_image.yaml"),
        "catalog-full.yaml",
        false,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    assert!(stderr.contains("a container needs an image"), "{stderr}");
}

/// hostPath connections need `policy.allowHostPath: true`: without it, the
/// input that mounts one is refused with a message saying how to allow it.
#[test]
fn host_path_connection_needs_the_policy() {
    let out = run_binary(&read("02_connections.yaml"), "catalog-full.yaml", false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", common::describe(&out));
    assert!(
        stderr.contains("hostPath volumes are not allowed by the policy")
            && stderr.contains("policy.allowHostPath: true"),
        "{stderr}"
    );
}

// ---------------------------------------------------------------------------
// Running both sides

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/oracle")
        .join(rel)
}

fn read(rel: &str) -> String {
    let path = data(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every document of a YAML stream, as JSON values.
fn parse_all(text: &str, what: &str) -> Vec<J> {
    yaml::parse_stream(text, &yaml::Limits::default())
        .unwrap_or_else(|e| panic!("{what} is not YAML: {e}"))
        .into_iter()
        .filter_map(|d| d.root)
        .map(|root| yaml::to_json(&root))
        .collect()
}

fn parse(text: &str, what: &str) -> J {
    parse_all(text, what)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("{what} is empty"))
}

fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    text.lines()
        .map(|l| {
            if l.trim().is_empty() {
                "\n".to_string()
            } else {
                format!("{pad}{l}\n")
            }
        })
        .collect()
}

/// The Polyaxon file as a PolyaxonOperation in a ResourceList whose function
/// config holds the catalog, run through our binary (the text is kept as
/// written: comments, quoting and all).
fn run_binary(spec: &str, catalog: &str, allow_host_path: bool) -> std::process::Output {
    let mut list = String::from(
        "apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n\
         - apiVersion: polyaxon-krm.dev/v1alpha1\n  kind: PolyaxonOperation\n  metadata:\n    name: oracle\n  spec:\n",
    );
    list.push_str(&indent(spec, 4));
    list.push_str(
        "functionConfig:\n  apiVersion: polyaxon-krm.dev/v1alpha1\n  kind: RenderPolyaxon\n  metadata:\n    name: oracle\n  connections:\n",
    );
    list.push_str(&indent(&read(catalog), 4));
    if allow_host_path {
        list.push_str("  policy:\n    allowHostPath: true\n");
    }
    common::run(&mut Command::new(common::bin()), list.as_bytes())
}

fn get<'a>(value: &'a J, path: &[&str]) -> &'a J {
    path.iter().fold(value, |v, k| v.get(k).unwrap_or(&J::Null))
}

fn list(value: &J) -> Vec<J> {
    value.as_array().cloned().unwrap_or_default()
}

fn name_of(value: &J) -> &str {
    value.get("name").and_then(J::as_str).unwrap_or_default()
}

/// One container as compared: its name and the three lists.
fn view_container(name: &str, env: &[J], env_from: &[J], mounts: &[J]) -> J {
    json!({"name": name, "env": env, "envFrom": env_from, "volumeMounts": mounts})
}

const MAIN: &str = "(main container)";

/// Our Job's pod, as compared.
fn our_view(job: &J) -> J {
    let pod = get(job, &["spec", "template", "spec"]);
    let container = |c: &J, name: &str| {
        view_container(
            name,
            &list(get(c, &["env"])),
            &list(get(c, &["envFrom"])),
            &list(get(c, &["volumeMounts"])),
        )
    };
    let containers: Vec<J> = list(get(pod, &["containers"]))
        .iter()
        .enumerate()
        .map(|(i, c)| container(c, if i == 0 { MAIN } else { name_of(c) }))
        .collect();
    let inits: Vec<J> = list(get(pod, &["initContainers"]))
        .iter()
        .map(|c| container(c, name_of(c)))
        .collect();
    json!({"containers": containers, "initContainers": inits, "volumes": list(get(pod, &["volumes"]))})
}

fn compare(case: &Case) {
    let spec_text = read(&format!("{}.yaml", case.input));
    let spec = parse(&spec_text, case.input);
    let catalog = list(&parse(&read(case.catalog), case.catalog));

    let out = run_binary(&spec_text, case.catalog, case.allow_host_path);
    assert!(
        out.status.success(),
        "{}: our binary failed\n{}",
        case.input,
        common::describe(&out)
    );
    let ours = parse(&String::from_utf8_lossy(&out.stdout), "our output");
    let job = list(get(&ours, &["items"]))
        .into_iter()
        .find(|i| i["apiVersion"] == "batch/v1" && i["kind"] == "Job")
        .unwrap_or_else(|| panic!("{}: no Job in our output", case.input));
    let ours = our_view(&job);

    // The oracle file: Polyaxon's compiled operation (the author's run once
    // composed and templated, before conversion), then what it converted.
    let oracle_file = format!("{}.bare.out.yaml", case.input);
    let docs = parse_all(&read(&oracle_file), &oracle_file);
    let [compiled, resource] = docs.as_slice() else {
        panic!("{oracle_file}: expected the compiled operation and the resource (regenerate.sh)");
    };
    let compiled = get(compiled, &["compiledOperation"]);
    let pod = get(resource, &["batchJobSpec", "template", "spec"]);
    let mut model = OraclePod::new(pod, compiled, &spec, &catalog);
    let changes = transform(&mut model, &ours);
    let theirs = model.view();

    let mut report = String::new();
    let (want, got) = (show(&theirs), show(&ours));
    if want != got {
        report.push_str(&format!(
            "our pod differs from Polyaxon's (tests/data/oracle/{oracle_file}) once its platform parts are dropped and the documented differences applied\n(- Polyaxon, + ours):\n{}\n",
            common::diff(&want, &got)
        ));
    }
    let applied: BTreeSet<Diff> = changes.keys().copied().collect();
    let declared: BTreeSet<Diff> = case.differences.iter().copied().collect();
    for d in applied.difference(&declared) {
        report.push_str(&format!(
            "difference {d:?} applies but is not declared for this case (add it here and to DIFFERENCES.md if it is deliberate): {:?}\n",
            changes[d]
        ));
    }
    for d in declared.difference(&applied) {
        report.push_str(&format!(
            "difference {d:?} is declared but changes nothing: remove it from this case\n"
        ));
    }
    if !report.is_empty() {
        let mut applied_list = String::new();
        for (d, notes) in &changes {
            for n in notes {
                applied_list.push_str(&format!("  {d:?}: {n}\n"));
            }
        }
        panic!(
            "{}:\n{report}\ndifferences applied to Polyaxon's side:\n{applied_list}",
            case.input
        );
    }
}

/// Sorted keys (so key order never shows as a difference), as YAML text.
fn show(value: &J) -> String {
    fn canonical(value: &J) -> J {
        match value {
            J::Object(map) => {
                let sorted: BTreeMap<&String, J> =
                    map.iter().map(|(k, v)| (k, canonical(v))).collect();
                J::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            J::Array(items) => J::Array(items.iter().map(canonical).collect()),
            other => other.clone(),
        }
    }
    yaml::to_string(&yaml::from_json(&canonical(value)))
}

// ---------------------------------------------------------------------------
// Polyaxon's side, with what each container was given

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Main,
    Sidecar,
    Init,
}

/// One container of Polyaxon's pod and where it came from in the input.
struct Slot {
    role: Role,
    name: String,
    /// The author's container as Polyaxon compiled it (layers composed,
    /// templates rendered), before conversion.
    author: J,
    /// The author's env as written in the input file, where it is there.
    written_env: Vec<J>,
    /// The catalog entries it uses, in order, once each.
    connections: Vec<J>,
    /// `run.connections` as written (duplicates kept).
    connections_as_written: Vec<String>,
    /// Resources flagged `isRequested` (main container and sidecars only):
    /// (`secret` or `configMap`, resource).
    requested: Vec<(&'static str, J)>,
    env: Vec<J>,
    env_from: Vec<J>,
    mounts: Vec<J>,
}

/// An env entry as Polyaxon's converter writes it (`_sanitize_container_env`):
/// a non-string `value` is JSON-dumped, any other key's null becomes "null".
fn polyaxon_env_entry(entry: &J) -> J {
    let Some(map) = entry.as_object() else {
        return entry.clone();
    };
    J::Object(
        map.iter()
            .map(|(k, v)| {
                let v = match (k.as_str(), v) {
                    (_, J::String(_)) => v.clone(),
                    ("name" | "value", other) => J::String(other.to_string()),
                    (_, J::Null) => J::String("null".into()),
                    (_, other) => other.clone(),
                };
                (k.clone(), v)
            })
            .collect(),
    )
}

impl Slot {
    /// The author's env (composed) as Polyaxon writes it, before its dedupe.
    fn author_env(&self) -> Vec<J> {
        list(get(&self.author, &["env"]))
            .iter()
            .map(polyaxon_env_entry)
            .collect()
    }

    fn author_names(&self) -> BTreeSet<String> {
        self.author_env()
            .iter()
            .map(|e| name_of(e).to_string())
            .collect()
    }

    /// Every (`secret`/`configMap`, resource) this container gets.
    fn resources(&self) -> Vec<(&'static str, J)> {
        let mut out = self.requested.clone();
        for c in &self.connections {
            for kind in ["secret", "configMap"] {
                if let Some(r) = c.get(kind).filter(|r| r.is_object()) {
                    out.push((kind, r.clone()));
                }
            }
        }
        out
    }
}

struct OraclePod {
    slots: Vec<Slot>,
    volumes: Vec<J>,
    /// The input's `run.volumes` count (they come first, kept as written).
    author_volumes: usize,
    shm_asked: bool,
}

fn run_section(spec: &J) -> &J {
    match spec.get("run") {
        Some(run) => run,
        None => get(spec, &["component", "run"]),
    }
}

fn catalog_entry(catalog: &[J], name: &str) -> J {
    catalog
        .iter()
        .find(|c| name_of(c) == name)
        .cloned()
        .unwrap_or_else(|| panic!("connection {name:?} is not in the catalog"))
}

impl OraclePod {
    fn new(pod: &J, compiled: &J, written: &J, catalog: &[J]) -> Self {
        let run = get(compiled, &["run"]);
        let written_run = run_section(written);
        let written_env = |field: &str, name: Option<&str>| -> Vec<J> {
            let container = match name {
                None => get(written_run, &[field]).clone(),
                Some(n) => list(get(written_run, &[field]))
                    .into_iter()
                    .map(|c| {
                        if field == "init" {
                            c["container"].clone()
                        } else {
                            c
                        }
                    })
                    .find(|c| name_of(c) == n)
                    .unwrap_or(J::Null),
            };
            list(get(&container, &["env"]))
        };
        let as_written: Vec<String> = list(get(run, &["connections"]))
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        let mut once: Vec<String> = Vec::new();
        for c in &as_written {
            if !once.contains(c) {
                once.push(c.clone());
            }
        }
        let connections: Vec<J> = once.iter().map(|n| catalog_entry(catalog, n)).collect();
        let mut requested: Vec<(&'static str, J)> = Vec::new();
        for kind in ["secret", "configMap"] {
            for c in catalog {
                if let Some(r) = c.get(kind).filter(|r| r["isRequested"] == true)
                    && !requested
                        .iter()
                        .any(|(k, q)| *k == kind && name_of(q) == name_of(r))
                {
                    requested.push((kind, r.clone()));
                }
            }
        }
        let slot = |role: Role, c: &J, author: J, connections: Vec<J>| Slot {
            written_env: match role {
                Role::Main => written_env("container", None),
                Role::Sidecar => written_env("sidecars", Some(name_of(c))),
                Role::Init => written_env("init", Some(name_of(c))),
            },
            role,
            name: if role == Role::Main {
                MAIN.to_string()
            } else {
                name_of(c).to_string()
            },
            author,
            connections_as_written: if role == Role::Init {
                Vec::new()
            } else {
                as_written.clone()
            },
            requested: if role == Role::Init {
                Vec::new()
            } else {
                requested.clone()
            },
            connections,
            env: list(get(c, &["env"])),
            env_from: list(get(c, &["envFrom"])),
            mounts: list(get(c, &["volumeMounts"])),
        };

        let mut slots = Vec::new();
        let containers = list(get(pod, &["containers"]));
        let (main, others) = containers
            .split_first()
            .expect("Polyaxon's pod has containers");
        slots.push(slot(
            Role::Main,
            main,
            get(run, &["container"]).clone(),
            connections.clone(),
        ));
        let sidecars = list(get(run, &["sidecars"]));
        for c in others.iter().filter(|c| name_of(c) != "polyaxon-sidecar") {
            let author = sidecars
                .iter()
                .find(|s| name_of(s) == name_of(c))
                .unwrap_or_else(|| {
                    panic!(
                        "Polyaxon's sidecar {:?} is not in the input: give every sidecar a name",
                        name_of(c)
                    )
                })
                .clone();
            slots.push(slot(Role::Sidecar, c, author, connections.clone()));
        }
        let init = list(get(run, &["init"]));
        for c in list(get(pod, &["initContainers"]))
            .iter()
            .filter(|c| !name_of(c).starts_with("polyaxon-init-"))
        {
            let entry = init
                .iter()
                .find(|i| name_of(get(i, &["container"])) == name_of(c))
                .unwrap_or_else(|| {
                    panic!(
                        "Polyaxon's init container {:?} is not in the input: give every init container a name",
                        name_of(c)
                    )
                });
            let connections = entry
                .get("connection")
                .and_then(J::as_str)
                .map(|n| vec![catalog_entry(catalog, n)])
                .unwrap_or_default();
            slots.push(slot(
                Role::Init,
                c,
                get(entry, &["container"]).clone(),
                connections,
            ));
        }
        OraclePod {
            slots,
            volumes: list(get(pod, &["volumes"])),
            author_volumes: list(get(run, &["volumes"])).len(),
            shm_asked: get(compiled, &["plugins", "shm"]) == &J::Bool(true),
        }
    }

    fn view(&self) -> J {
        let of = |role_is_init: bool| -> Vec<J> {
            self.slots
                .iter()
                .filter(|s| (s.role == Role::Init) == role_is_init)
                .map(|s| view_container(&s.name, &s.env, &s.env_from, &s.mounts))
                .collect()
        };
        json!({"containers": of(false), "initContainers": of(true), "volumes": self.volumes})
    }
}

// ---------------------------------------------------------------------------
// Transformations of Polyaxon's side

type Changes = BTreeMap<Diff, Vec<String>>;

fn note(changes: &mut Changes, diff: Diff, text: String) {
    changes.entry(diff).or_default().push(text);
}

/// Polyaxon's output → what we should emit: platform parts dropped, then each
/// deliberate difference in turn. Returns what each difference changed.
fn transform(pod: &mut OraclePod, ours: &J) -> Changes {
    let mut changes = Changes::new();
    // Before the platform env goes: Polyaxon places connection env right
    // after its POLYAXON_CONNECTIONS_CATALOG variable.
    connection_env_as_name_value(pod, &mut changes);
    drop_platform_parts(pod);
    mounted_items_as_key_path(pod, &mut changes);
    mounted_config_map_no_env(pod, &mut changes);
    author_env_wins_over_connection(pod, &mut changes);
    author_duplicate_env_kept(pod, &mut changes);
    shortcut_env_no_value_from(pod, &mut changes);
    no_literal_eval(pod, &mut changes);
    shm_only_when_asked(pod, &mut changes);
    duplicate_connection_used_once(pod, &mut changes);
    stable_hashed_volume_names(pod, ours, &mut changes);
    init_keeps_secret_env_from(pod, &mut changes);
    init_env_in_main_order(pod, &mut changes);
    changes
}

/// Polyaxon's platform plumbing (polyaxon-mapping.md §10): `POLYAXON_*` env
/// (including the connections catalog), `NVIDIA_VISIBLE_DEVICES`, the
/// artifacts/context volumes and their mounts. Its own containers
/// (`polyaxon-sidecar`, `polyaxon-init-*`) are left out when the slots are
/// built, and the main container's forced name `polyaxon-main` is not compared.
fn drop_platform_parts(pod: &mut OraclePod) {
    fn platform_volume(name: &str) -> bool {
        matches!(name, "artifacts-context" | "configs-context")
            || name.starts_with("connections-context-")
            || name.starts_with("plx-tools-")
    }
    for slot in &mut pod.slots {
        slot.env.retain(|e| {
            let n = name_of(e);
            !(n.starts_with("POLYAXON_") || n == "NVIDIA_VISIBLE_DEVICES")
        });
        slot.mounts.retain(|m| !platform_volume(name_of(m)));
    }
    pod.volumes.retain(|v| !platform_volume(name_of(v)));
}

/// A connection's `env` as (name, value), whichever form the catalog uses.
fn env_pairs(connection: &J) -> Vec<(String, String)> {
    fn text(v: &J) -> String {
        match v {
            J::String(s) => s.clone(),
            J::Null => String::new(),
            other => other.to_string(),
        }
    }
    match connection.get("env") {
        Some(J::Object(map)) => map.iter().map(|(k, v)| (k.clone(), text(v))).collect(),
        Some(J::Array(items)) => items
            .iter()
            .map(|item| match item {
                J::Array(pair) if pair.len() == 2 => (text(&pair[0]), text(&pair[1])),
                J::Object(_) => (name_of(item).to_string(), text(&item["value"])),
                other => panic!("unexpected connection env entry {other}"),
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// §12.1: Polyaxon drops `[[K, V]]` connection env and writes `{K: V}` as
/// the invalid entry `- K: V`; we write `{name: K, value: V}` for every form.
fn connection_env_as_name_value(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in &mut pod.slots {
        let pairs: Vec<(String, String)> = slot.connections.iter().flat_map(env_pairs).collect();
        let mut invalid: Vec<String> = Vec::new();
        slot.env.retain(|e| {
            if e.get("name").is_some() {
                return true;
            }
            let entry = e.as_object().filter(|m| m.len() == 1);
            let Some((k, v)) = entry.and_then(|m| m.iter().next()) else {
                panic!("{}: unexpected env entry {e}", slot.name);
            };
            assert!(
                pairs
                    .iter()
                    .any(|(pk, pv)| pk == k && v.as_str() == Some(pv)),
                "{}: env entry {e} is not a connection's env",
                slot.name
            );
            invalid.push(k.clone());
            false
        });
        if pairs.is_empty() {
            continue;
        }
        let at = slot
            .env
            .iter()
            .position(|e| name_of(e) == "POLYAXON_CONNECTIONS_CATALOG")
            .unwrap_or_else(|| panic!("{}: no connections catalog variable", slot.name))
            + 1;
        for (i, (k, v)) in pairs.iter().enumerate() {
            slot.env.insert(at + i, json!({"name": k, "value": v}));
            let polyaxon = if invalid.contains(k) {
                format!("the invalid entry `- {k}: {v}`")
            } else {
                "dropped".to_string()
            };
            note(
                changes,
                ConnectionEnvAsNameValue,
                format!("{}: {k}={v} (Polyaxon: {polyaxon})", slot.name),
            );
        }
    }
}

/// §12.2: a mounted Secret/ConfigMap's `items` are raw key strings in
/// Polyaxon (invalid); we write `{key, path}` items.
fn mounted_items_as_key_path(pod: &mut OraclePod, changes: &mut Changes) {
    for volume in &mut pod.volumes {
        let name = name_of(volume).to_string();
        for kind in ["secret", "configMap"] {
            let Some(items) = volume
                .get_mut(kind)
                .and_then(|s| s.get_mut("items"))
                .and_then(J::as_array_mut)
            else {
                continue;
            };
            for item in items.iter_mut() {
                if let Some(key) = item.as_str().map(str::to_string) {
                    *item = json!({"key": key, "path": key});
                    note(
                        changes,
                        MountedItemsAsKeyPath,
                        format!("volume {name}: item {key:?} as {{key, path}}"),
                    );
                }
            }
        }
    }
}

/// §12.3: Polyaxon also turns a mounted ConfigMap's `items` into env vars
/// (never a mounted Secret's); we give neither env.
fn mounted_config_map_no_env(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in &mut pod.slots {
        for (kind, r) in slot.resources() {
            let mounted = r.get("mountPath").is_some_and(J::is_string);
            if kind != "configMap" || !mounted {
                continue;
            }
            let cm = name_of(&r).to_string();
            let keys = list(&r["items"]);
            slot.env.retain(|e| {
                let from = get(e, &["valueFrom", "configMapKeyRef"]);
                let hit = name_of(from) == cm && keys.iter().any(|k| *k == from["key"]);
                if hit {
                    note(
                        changes,
                        MountedConfigMapNoEnv,
                        format!(
                            "{}: no env {} from mounted ConfigMap {cm}",
                            slot.name,
                            name_of(e)
                        ),
                    );
                }
                !hit
            });
        }
    }
}

/// Would Python's `ast.literal_eval` turn this string into something else
/// (a number, True/False/None, a list, dict, tuple or quoted string)?
fn looks_like_python_literal(text: &str) -> bool {
    let t = text.trim();
    let number = {
        let digits = t.trim_start_matches(['-', '+']).replace('_', "");
        digits.parse::<f64>().is_ok()
            || digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0o"))
                .or_else(|| digits.strip_prefix("0b"))
                .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_hexdigit()))
    };
    number || matches!(t, "True" | "False" | "None") || t.starts_with(['[', '{', '(', '\'', '"'])
}

/// §12.7: Polyaxon passes every string of `run` through `ast.literal_eval`
/// and writes the result back (`"1e3"` → `'1000.0'`); a string stays as
/// written with us. Only the author's own values that look like Python
/// literals are restored; any other value difference stays visible.
fn no_literal_eval(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in &mut pod.slots {
        for e in &mut slot.env {
            let Some(theirs) = e.get("value").and_then(J::as_str).map(str::to_string) else {
                continue;
            };
            let written: Vec<&str> = slot
                .written_env
                .iter()
                .filter(|w| name_of(w) == name_of(e))
                .filter_map(|w| w.get("value").and_then(J::as_str))
                .collect();
            if written.is_empty() || written.contains(&theirs.as_str()) {
                continue;
            }
            let [written] = written.as_slice() else {
                panic!(
                    "{}: {} has several written values, none Polyaxon's {theirs:?}",
                    slot.name,
                    name_of(e)
                );
            };
            if looks_like_python_literal(written) {
                note(
                    changes,
                    NoLiteralEval,
                    format!(
                        "{}: {} stays {written:?} (Polyaxon: {theirs:?})",
                        slot.name,
                        name_of(e)
                    ),
                );
                e["value"] = J::String(written.to_string());
            }
        }
    }
}

/// §12.6: Polyaxon's `env:` shortcut gives entries an extra
/// `value_from: 'null'` key (not a Kubernetes field); ours are `{name, value}`.
fn shortcut_env_no_value_from(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in &mut pod.slots {
        for e in &mut slot.env {
            if let Some(map) = e.as_object_mut()
                && map.get("value_from") == Some(&J::String("null".into()))
            {
                map.remove("value_from");
                note(
                    changes,
                    ShortcutEnvNoValueFrom,
                    format!("{}: {} without value_from", slot.name, name_of(e)),
                );
            }
        }
    }
}

/// Polyaxon's env dedupe keeps the last entry of each name at its position.
fn dedupe_last(env: &[J]) -> Vec<J> {
    env.iter()
        .enumerate()
        .filter(|(i, e)| {
            !env[i + 1..]
                .iter()
                .any(|later| name_of(later) == name_of(e))
        })
        .map(|(_, e)| e.clone())
        .collect()
}

/// Polyaxon: a connection variable named like one of the author's replaces
/// it (last wins). Ours: the author's explicit value wins, with a warning.
fn author_env_wins_over_connection(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in &mut pod.slots {
        let names = slot.author_names();
        if names.is_empty() {
            continue;
        }
        let block = dedupe_last(&slot.author_env());
        let mut kept = Vec::new();
        let mut overriding = Vec::new();
        let mut rest = Vec::new();
        for e in slot.env.drain(..) {
            if !names.contains(name_of(&e)) {
                rest.push(e);
            } else if block.contains(&e) {
                kept.push(e);
            } else {
                overriding.push(e);
            }
        }
        let expected_kept: Vec<J> = block.iter().filter(|b| kept.contains(b)).cloned().collect();
        assert_eq!(
            kept, expected_kept,
            "{}: Polyaxon's env does not start with the author's",
            slot.name
        );
        for o in &overriding {
            note(
                changes,
                AuthorEnvWinsOverConnection,
                format!(
                    "{}: the author's {} wins over the connection's {o}",
                    slot.name,
                    name_of(o)
                ),
            );
        }
        slot.env = if overriding.is_empty() { kept } else { block };
        slot.env.extend(rest);
    }
}

/// Polyaxon keeps only the last of the author's own entries with one name;
/// we keep them as written (Kubernetes uses the last: the same environment).
fn author_duplicate_env_kept(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in &mut pod.slots {
        let author = slot.author_env();
        let block = dedupe_last(&author);
        if block.len() == author.len() {
            continue;
        }
        assert!(
            slot.env.starts_with(&block),
            "{}: Polyaxon's env does not start with the author's",
            slot.name
        );
        slot.env.splice(..block.len(), author.iter().cloned());
        for e in author.iter().filter(|e| !block.contains(e)) {
            note(
                changes,
                AuthorDuplicateEnvKept,
                format!("{}: the author's earlier {e} is kept", slot.name),
            );
        }
    }
}

/// Polyaxon mounts a memory `shm` at /dev/shm unless `plugins.shm: false`;
/// we only with `plugins.shm: true`.
fn shm_only_when_asked(pod: &mut OraclePod, changes: &mut Changes) {
    if pod.shm_asked {
        return;
    }
    let shm_volume = json!({"name": "shm", "emptyDir": {"medium": "Memory"}});
    let before = pod.volumes.len();
    pod.volumes.retain(|v| *v != shm_volume);
    if pod.volumes.len() != before {
        note(changes, ShmOnlyWhenAsked, "volume shm".to_string());
    }
    let shm_mount = json!({"name": "shm", "mountPath": "/dev/shm"});
    for slot in &mut pod.slots {
        let before = slot.mounts.len();
        slot.mounts.retain(|m| *m != shm_mount);
        if slot.mounts.len() != before {
            note(
                changes,
                ShmOnlyWhenAsked,
                format!("{}: mount /dev/shm", slot.name),
            );
        }
    }
}

/// Polyaxon mounts a connection listed twice twice (an invalid pod); we use
/// it once, with a warning.
fn duplicate_connection_used_once(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in &mut pod.slots {
        let mut seen = BTreeSet::new();
        if slot.connections_as_written.iter().all(|c| seen.insert(c)) {
            continue;
        }
        let mut kept: Vec<J> = Vec::new();
        for m in slot.mounts.drain(..) {
            if kept.contains(&m) {
                note(
                    changes,
                    DuplicateConnectionUsedOnce,
                    format!("{}: repeated mount {m}", slot.name),
                );
            } else {
                kept.push(m);
            }
        }
        slot.mounts = kept;
    }
}

fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn volume_source(volume: &J) -> Option<&'static str> {
    [
        ("persistentVolumeClaim", "pvc"),
        ("hostPath", "hostpath"),
        ("secret", "secret"),
        ("configMap", "configmap"),
    ]
    .into_iter()
    .find(|(field, _)| volume.get(field).is_some())
    .map(|(_, word)| word)
}

/// The documented shape of a replacement name: a readable stem of Polyaxon's
/// name, the source kind and an 8-hex hash (`-N` if that is taken too).
fn hashed_name_shape(new: &str, source: &str, base: &str) -> bool {
    let stem: String = base
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let stem: String = stem.trim_matches('-').chars().take(40).collect();
    let stem = stem.trim_end_matches('-');
    let prefix = if stem.is_empty() {
        format!("{source}-")
    } else {
        format!("{stem}-{source}-")
    };
    let Some(tail) = new.strip_prefix(&prefix) else {
        return false;
    };
    let (hash, n) = tail.split_once('-').unwrap_or((tail, "2"));
    dns_label(new)
        && hash.len() == 8
        && hash
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        && n.parse::<u32>().is_ok_and(|n| n >= 2)
}

/// Polyaxon names a connection's volume after the connection (PVC, hostPath)
/// or the Secret/ConfigMap, even when that name is not a valid volume name or
/// is already taken (duplicate volumes: an invalid pod). We keep its name
/// unless invalid or taken, then use a stable hashed name; the new name is
/// read from our pod and must have the documented shape.
fn stable_hashed_volume_names(pod: &mut OraclePod, ours: &J, changes: &mut Changes) {
    let our_volumes = list(&ours["volumes"]);
    let without_name = |v: &J| -> J {
        let mut m: Map<String, J> = v.as_object().cloned().unwrap_or_default();
        m.remove("name");
        J::Object(m)
    };
    let mut taken: BTreeSet<String> = BTreeSet::new();
    let mut renamed: BTreeMap<(&'static str, String), String> = BTreeMap::new();
    for (i, volume) in pod.volumes.iter_mut().enumerate() {
        let name = name_of(volume).to_string();
        let source = volume_source(volume);
        let ours_decide = i >= pod.author_volumes && source.is_some() && name != "shm";
        if !ours_decide || (dns_label(&name) && !taken.contains(&name)) {
            taken.insert(name);
            continue;
        }
        let source = source.unwrap_or_default();
        let body = without_name(volume);
        let same: Vec<&J> = our_volumes
            .iter()
            .filter(|o| without_name(o) == body)
            .collect();
        assert_eq!(
            same.len(),
            1,
            "volume {name}: expected one volume of ours with the same source {body}"
        );
        let new = name_of(same[0]).to_string();
        assert!(
            hashed_name_shape(&new, source, &name) && !taken.contains(&new),
            "volume {name}: our name {new:?} is not a free `<stem>-{source}-<8 hex>` name"
        );
        note(
            changes,
            StableHashedVolumeNames,
            format!(
                "volume {name} ({source}, {}) is {new}",
                if dns_label(&name) {
                    "taken"
                } else {
                    "not a valid name"
                }
            ),
        );
        volume["name"] = J::String(new.clone());
        renamed.insert((source, name), new.clone());
        taken.insert(new);
    }
    if renamed.is_empty() {
        return;
    }
    for slot in &mut pod.slots {
        // Where each connection mount path comes from.
        let mut sources: Vec<(String, &'static str, String)> = Vec::new();
        for c in &slot.connections {
            let word = match c["kind"].as_str() {
                Some("volume_claim") => "pvc",
                Some("host_path") => "hostpath",
                _ => continue,
            };
            if let Some(p) = c["schema"]["mountPath"].as_str() {
                sources.push((p.to_string(), word, name_of(c).to_string()));
            }
        }
        for (kind, r) in slot.resources() {
            if let Some(p) = r["mountPath"].as_str() {
                let word = if kind == "secret" {
                    "secret"
                } else {
                    "configmap"
                };
                sources.push((p.to_string(), word, name_of(&r).to_string()));
            }
        }
        let author_mounts = list(get(&slot.author, &["volumeMounts"])).len();
        for mount in slot.mounts.iter_mut().skip(author_mounts) {
            let path = mount["mountPath"].as_str().unwrap_or_default();
            let Some((_, word, base)) = sources.iter().find(|(p, _, _)| p == path) else {
                continue;
            };
            if name_of(mount) != base {
                continue;
            }
            if let Some(new) = renamed.get(&(*word, base.clone())) {
                mount["name"] = J::String(new.clone());
            }
        }
    }
}

/// §12.4: in an init container tied to a connection with a ConfigMap,
/// Polyaxon overwrites the Secret's `envFrom` with the ConfigMap's (or with
/// nothing when the ConfigMap is mounted or has items); we keep both.
fn init_keeps_secret_env_from(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in pod.slots.iter_mut().filter(|s| s.role == Role::Init) {
        let Some(c) = slot.connections.first() else {
            continue;
        };
        let (secret, config_map) = (&c["secret"], &c["configMap"]);
        let plain_secret = secret.is_object()
            && secret.get("items").is_none()
            && secret.get("mountPath").is_none();
        if !(plain_secret && config_map.is_object()) {
            continue;
        }
        let at = list(get(&slot.author, &["envFrom"])).len();
        let reference = json!({"secretRef": {"name": secret["name"]}});
        assert!(
            !slot.env_from.contains(&reference),
            "{}: Polyaxon kept the Secret's envFrom",
            slot.name
        );
        slot.env_from.insert(at, reference);
        note(
            changes,
            InitKeepsSecretEnvFrom,
            format!(
                "{}: envFrom Secret {} kept",
                slot.name,
                secret["name"].as_str().unwrap_or_default()
            ),
        );
    }
}

/// In an init container tied to a connection, Polyaxon writes the Secret's
/// item env before the connection's `env` (the main container has them
/// after); we use the main container's order in every container.
fn init_env_in_main_order(pod: &mut OraclePod, changes: &mut Changes) {
    for slot in pod.slots.iter_mut().filter(|s| s.role == Role::Init) {
        let pairs: Vec<J> = slot
            .connections
            .iter()
            .flat_map(env_pairs)
            .map(|(k, v)| json!({"name": k, "value": v}))
            .collect();
        let Some(first) = slot.env.iter().position(|e| pairs.contains(e)) else {
            continue;
        };
        let at = slot.author_env().len();
        if first == at {
            continue;
        }
        let moved: Vec<J> = slot.env[at..first].to_vec();
        let block: Vec<J> = slot
            .env
            .iter()
            .filter(|e| pairs.contains(e))
            .cloned()
            .collect();
        slot.env.retain(|e| !pairs.contains(e));
        for (i, e) in block.into_iter().enumerate() {
            slot.env.insert(at + i, e);
        }
        for m in moved {
            note(
                changes,
                InitEnvInMainOrder,
                format!("{}: connection env before {}", slot.name, name_of(&m)),
            );
        }
    }
}
