//! Reads a Polyaxon file (component or operation) into the domain types the
//! Job builder needs, as strictly as Polyaxon does (unknown sections and
//! fields are errors) and with every feature not built yet reported by name.

use std::borrow::Cow;

use super::compose::{self, Strategy};
use super::diag::{Diag, child, index};
use super::init;
use super::k8s::{self, Kind};
use super::params;
use super::template::{self, Templates};
use super::validate;
use crate::results::did_you_mean;
use crate::yaml::{Node, Resolved, Value};

/// Top-level sections of a Polyaxon 2.18 file (`V1Polyaxonfile`).
const SECTIONS: &[&str] = &[
    "version",
    "kind",
    "name",
    "description",
    "tags",
    "presets",
    "strictParams",
    "queue",
    "namespace",
    "cache",
    "termination",
    "plugins",
    "build",
    "hooks",
    "isApproved",
    "cost",
    "mount",
    "schedule",
    "events",
    "matrix",
    "joins",
    "dependencies",
    "trigger",
    "conditions",
    "skipOnUpstreamSkip",
    "inputs",
    "outputs",
    "contexts",
    "run",
    "ports",
    "container",
    "cmd",
    "env",
    "resources",
    "environment",
    "init",
    "connections",
    "sidecars",
    "volumes",
    "template",
    "params",
    "hubRef",
    "dagRef",
    "urlRef",
    "pathRef",
    "component",
    "patchStrategy",
    "isPreset",
    "runPatch",
    "operations",
];

const RUN_KINDS: &[&str] = &[
    "job",
    "service",
    "dag",
    "tfjob",
    "pytorchjob",
    "mpijob",
    "paddlejob",
    "mxjob",
    "xgbjob",
    "raycluster",
    "daskcluster",
    "notifier",
    "tuner",
    "cleaner",
    "watchdog",
];

const JOB_FIELDS: &[&str] = &[
    "kind",
    "environment",
    "connections",
    "volumes",
    "init",
    "sidecars",
    "container",
];

const ENVIRONMENT_FIELDS: &[&str] = &[
    "labels",
    "annotations",
    "nodeSelector",
    "affinity",
    "tolerations",
    "nodeName",
    "serviceAccountName",
    "hostAliases",
    "securityContext",
    "imagePullSecrets",
    "hostNetwork",
    "hostPID",
    "dnsPolicy",
    "dnsConfig",
    "schedulerName",
    "priorityClassName",
    "priority",
    "restartPolicy",
];

const TERMINATION_FIELDS: &[&str] = &[
    "maxRetries",
    "ttl",
    "timeout",
    "culling",
    "probe",
    "podFailurePolicy",
];

const PLUGIN_FIELDS: &[&str] = &[
    "auth",
    "docker",
    "shm",
    "tmux",
    "sandbox",
    "ssh",
    "mountArtifactsStore",
    "collectArtifacts",
    "collectLogs",
    "collectResources",
    "syncStatuses",
    "autoResume",
    "logLevel",
    "externalHost",
    "sidecar",
    "notifications",
];

const INIT_FIELDS: &[&str] = &[
    "artifacts",
    "paths",
    "git",
    "dockerfile",
    "file",
    "tensorboard",
    "lineageRef",
    "modelRef",
    "artifactRef",
    "connection",
    "path",
    "container",
];

/// A job ready to be built: everything already validated and normalized.
#[derive(Debug, Default)]
pub struct JobSpec {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub termination: Termination,
    pub shm: bool,
    /// Pod template labels and annotations from `environment`.
    pub pod_labels: Vec<(Node, Node)>,
    pub pod_annotations: Vec<(Node, Node)>,
    /// PodSpec fields from `environment`, in a stable order.
    pub pod_fields: Vec<(String, Node)>,
    pub restart_policy: Option<String>,
    pub init_containers: Vec<Node>,
    /// Where each init container was written (`spec.run.init[0].container`).
    pub init_paths: Vec<String>,
    /// The connection each init container is tied to, with its field path.
    pub init_connections: Vec<Option<(String, String)>>,
    /// `run.connections`, in order, deduplicated, with field paths.
    pub connection_refs: Vec<(String, String)>,
    /// Where `run` is (`spec.run`, `spec.component.run`).
    pub run_path: String,
    /// `toEnv` inputs and params, for the main container.
    pub param_env: Vec<(String, String)>,
    /// Built-in init handlers waiting for the catalog (see `apply_handlers`).
    pub handlers: Vec<InitHandler>,
    /// Whether each init container was made by a handler (git clone).
    pub init_from_handler: Vec<bool>,
    /// The `init` entry each init container comes from (its index).
    pub init_index: Vec<usize>,
    /// ConfigMaps to generate (init `file` / `dockerfile`): name and data.
    pub config_maps: Vec<(String, Vec<(String, String)>)>,
    /// `schedule: {kind: cron}`: the Job becomes a CronJob.
    pub schedule: Option<Schedule>,
    pub container: Node,
    pub sidecars: Vec<Node>,
    pub volumes: Vec<Node>,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub cron: String,
    /// `dependsOnPast`: a run waits for the one before (concurrencyPolicy Forbid).
    pub depends_on_past: bool,
}

#[derive(Debug, Default)]
pub struct Termination {
    pub max_retries: Option<i64>,
    pub timeout: Option<i64>,
    pub ttl: Option<i64>,
    pub pod_failure_policy: Option<Node>,
}

/// What a Polyaxon file may draw on besides itself.
pub struct Sources<'a> {
    pub catalog: &'a [crate::catalog::Connection],
    /// The catalog as templates see it, made once per run.
    pub template_connections: &'a std::sync::OnceLock<minijinja::Value>,
    /// Catalog entries left out as invalid, and whether the catalog was unreadable.
    pub invalid_connections: &'a [String],
    pub catalog_unreadable: bool,
    /// `RenderPolyaxon.presets`: named preset files.
    pub presets: Option<&'a Node>,
    pub globals: params::Globals<'a>,
    /// Finds the component a `hubRef`/`pathRef` names: its Polyaxon file and
    /// how to name it in messages, or why it cannot be found.
    pub components: &'a super::ComponentLookup<'a>,
}

/// Findings inside a referenced component are reported at the reference.
pub(crate) const IN_COMPONENT: &str = "@component";

/// Reads `spec` (the Polyaxon file) found at `path` of its item: composes
/// its layers, renders its templates, and reads the result.
pub fn read(spec: &Node, path: &str, sources: &Sources<'_>, diag: &mut Diag) -> Option<JobSpec> {
    if spec.as_map().is_none() {
        diag.error(
            path,
            "expected a Polyaxon file (a mapping with kind and run)",
        );
        return None;
    }
    let kind = file_kind(spec, path, diag)?;
    check_sections(spec, path, &kind, diag);
    let mut reference: Option<(String, String)> = None;
    let (component, component_path) = if kind == "operation" {
        let refs: Vec<&str> = ["hubRef", "pathRef", "dagRef", "urlRef"]
            .into_iter()
            .filter(|r| spec.get(r).is_some_and(|n| !n.is_null()))
            .collect();
        match (
            spec.get("component").filter(|n| !n.is_null()),
            refs.as_slice(),
        ) {
            (Some(_), [_, ..]) | (None, [_, _, ..]) => {
                diag.error(path, "give one of component, hubRef or pathRef");
                return None;
            }
            (Some(c), []) if c.as_map().is_some() => (c.clone(), child(path, "component")),
            (Some(_), []) => {
                diag.error(
                    child(path, "component"),
                    "component must be a Polyaxon component (a mapping)",
                );
                return None;
            }
            (None, [r @ ("hubRef" | "pathRef")]) => {
                let at = child(path, r);
                let value = spec.get(r).and_then(Node::as_str).unwrap_or_default();
                match (sources.components)(r, value) {
                    Ok((node, desc)) => {
                        reference = Some((at, desc));
                        (node, IN_COMPONENT.to_string())
                    }
                    Err(message) => {
                        diag.error(&at, message);
                        return None;
                    }
                }
            }
            (None, [r]) => {
                diag.error(
                    child(path, r),
                    format!("{r} needs Polyaxon's control plane; use hubRef or pathRef to a PolyaxonComponent, or an inline component"),
                );
                return None;
            }
            (None, []) => {
                diag.error(
                    path,
                    "an operation needs a component (inline under `component`, or hubRef/pathRef)",
                );
                return None;
            }
        }
    } else {
        (spec.clone(), path.to_string())
    };
    let mut inner = Diag::default();
    let job = compose_and_read(
        spec,
        path,
        &kind,
        &component,
        &component_path,
        sources,
        &mut inner,
    );
    for finding in inner.findings {
        let finding = match (&reference, &finding.field) {
            (Some((at, desc)), Some(field)) if field.starts_with(IN_COMPONENT) => {
                let rel = field[IN_COMPONENT.len()..].trim_start_matches('.');
                let message = if rel.is_empty() {
                    format!("{desc}: {}", finding.message)
                } else {
                    format!("{desc} {rel}: {}", finding.message)
                };
                crate::results::Finding { message, ..finding }.at(at.clone())
            }
            _ => finding,
        };
        diag.findings.push(finding);
    }
    job
}

fn file_kind(spec: &Node, path: &str, diag: &mut Diag) -> Option<String> {
    match spec.get("kind") {
        None => Some("component".to_string()),
        Some(k) => match k.as_str() {
            Some(k @ ("component" | "operation")) => Some(k.to_string()),
            _ => {
                diag.error(
                    child(path, "kind"),
                    format!(
                        "kind must be component or operation, found {}",
                        k.scalar_text().unwrap_or("a collection")
                    ),
                );
                None
            }
        },
    }
}

/// Sections every Polyaxon file may have, and the ones a plain Job cannot express.
fn check_sections(file: &Node, path: &str, kind: &str, diag: &mut Diag) {
    for (key, value) in file.as_map().into_iter().flatten() {
        let Some(key) = key.scalar_text() else {
            continue;
        };
        let at = child(path, key);
        if !SECTIONS.contains(&key) {
            let hint = did_you_mean(key, SECTIONS.iter().copied())
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            diag.error(
                &at,
                format!("unknown section \"{key}\" in a Polyaxon {kind}{hint}"),
            );
            continue;
        }
        if value.is_null() {
            continue;
        }
        match key {
            "queue" | "cache" | "cost" | "isApproved" | "template" => diag.info(
                &at,
                format!("\"{key}\" is read by Polyaxon's control plane only; ignored"),
            ),
            "isPreset" => diag.error(&at, "this is a preset: name it in RenderPolyaxon.presets and list it under presets"),
            "contexts" => diag.error(&at, "contexts are not supported; declare inputs instead"),
            "matrix" | "joins" | "dependencies" | "trigger" | "conditions" | "skipOnUpstreamSkip"
            | "events" | "operations" => diag.error(
                &at,
                format!("{key} needs Polyaxon's pipeline scheduler; a plain Kubernetes Job cannot express it"),
            ),
            "build" | "hooks" | "mount" => diag.error(&at, format!("{key} needs Polyaxon's control plane; not supported")),
            "component" if kind != "operation" => diag.error(&at, "only an operation has a component"),
            "runPatch" | "patchStrategy" if kind == "preset" => {}
            "params" | "runPatch" | "patchStrategy" | "hubRef" | "pathRef" | "dagRef" | "urlRef" if kind != "operation" => {
                diag.error(&at, format!("{key} belongs to an operation (kind: operation)"));
            }
            _ => {}
        }
    }
}

/// Renders each layer, composes them, and reads the result.
fn compose_and_read(
    spec: &Node,
    path: &str,
    kind: &str,
    component: &Node,
    component_path: &str,
    sources: &Sources<'_>,
    diag: &mut Diag,
) -> Option<JobSpec> {
    if kind == "operation" {
        match file_kind(component, component_path, diag)?.as_str() {
            "operation" => {
                diag.error(
                    component_path,
                    "the component of an operation must be a component, not another operation",
                );
                return None;
            }
            k => check_sections(component, component_path, k, diag),
        }
    }
    let params = (kind == "operation")
        .then(|| spec.get("params").map(|p| (p, child(path, "params"))))
        .flatten();
    let resolution = params::resolve(
        component,
        component_path,
        params.as_ref().map(|(p, at)| (*p, at.as_str())),
        &sources.globals,
        diag,
    );
    let connections = sources.template_connections.get_or_init(|| {
        minijinja::Value::from_serialize(params::connections_context(sources.catalog))
    });
    let templates = Templates::new(&resolution.context, connections);
    // A file without templates (most) is read where it is, not copied.
    fn rendered<'a>(
        templates: &Templates,
        file: &'a Node,
        at: &str,
        skip: &[&str],
        diag: &mut Diag,
    ) -> Cow<'a, Node> {
        let templated = |k: &Node, v: &Node| {
            !skip.contains(&k.scalar_text().unwrap_or_default()) && template::holds_template(v)
        };
        if !file
            .as_map()
            .is_some_and(|entries| entries.iter().any(|(k, v)| templated(k, v)))
        {
            return Cow::Borrowed(file);
        }
        let mut out = file.clone();
        if let Some(entries) = out.as_map_mut() {
            for (k, v) in entries.iter_mut() {
                if templated(k, v) {
                    let key = k.scalar_text().unwrap_or_default();
                    templates.render_tree(v, &child(at, key), diag);
                }
            }
        }
        Cow::Owned(out)
    }
    let component = rendered(
        &templates,
        component,
        component_path,
        &["inputs", "outputs"],
        diag,
    );
    let mut compiled = Node::map();
    for key in ["name", "termination", "plugins", "schedule", "namespace"] {
        if let Some(v) = component.get(key).filter(|n| !n.is_null()) {
            compiled.set(key, v.clone());
        }
    }
    let mut checked_layers: Vec<(Cow<'_, Node>, String)> = Vec::new();
    // A layer is checked with its shortcuts (top-level container, …) as
    // part of it.
    fn with_shortcuts(mut layer: Cow<'_, Node>, patch: Option<Node>) -> Cow<'_, Node> {
        if let Some(p) = patch {
            layer.to_mut().set("shortcuts", p);
        }
        layer
    }
    let mut run = component
        .get("run")
        .filter(|n| !n.is_null())
        .cloned()
        .unwrap_or_else(Node::map);
    let component_shortcuts = compose::shortcuts(&component, component_path, diag);
    if let Some(patch) = &component_shortcuts {
        compose::patch_run(&mut run, patch, Strategy::PostMerge);
    }
    checked_layers.push((
        with_shortcuts(Cow::Borrowed(&*component), component_shortcuts),
        component_path.to_string(),
    ));
    let mut preset_names: Vec<(String, String)> = preset_list(&component, component_path, diag);
    if kind == "operation" {
        let op = rendered(
            &templates,
            spec,
            path,
            &["component", "params", "inputs", "outputs"],
            diag,
        );
        let strategy = Strategy::read(op.get("patchStrategy"), &child(path, "patchStrategy"), diag);
        apply_layer(&mut compiled, &op, strategy);
        let op_shortcuts = compose::shortcuts(&op, path, diag);
        if let Some(patch) = &op_shortcuts {
            compose::patch_run(&mut run, patch, strategy);
        }
        if let Some(patch) = op.get("runPatch").filter(|n| !n.is_null()) {
            if patch.as_map().is_some() {
                diag.check_fields(patch, JOB_FIELDS, "runPatch", &child(path, "runPatch"));
                compose::patch_run(&mut run, patch, strategy);
            } else {
                diag.error(
                    child(path, "runPatch"),
                    "runPatch must be a mapping (a partial run)",
                );
            }
        }
        preset_names.extend(preset_list(&op, path, diag));
        checked_layers.push((with_shortcuts(op, op_shortcuts), path.to_string()));
    }
    for (name, at) in preset_names {
        let Some(preset) = sources
            .presets
            .and_then(|p| p.get(&name))
            .filter(|n| n.as_map().is_some())
        else {
            let known: Vec<&str> = sources
                .presets
                .and_then(Node::as_map)
                .into_iter()
                .flatten()
                .filter_map(|(k, _)| k.scalar_text())
                .collect();
            let known = if known.is_empty() {
                "none is configured".to_string()
            } else {
                format!("known: {}", known.join(", "))
            };
            diag.error(
                &at,
                format!("preset \"{name}\" is not in RenderPolyaxon.presets ({known})"),
            );
            continue;
        };
        let preset_path = format!("{at} (preset {name})");
        check_sections(preset, &preset_path, "preset", diag);
        let preset = rendered(&templates, preset, &preset_path, &[], diag);
        let strategy = Strategy::read(
            preset.get("patchStrategy"),
            &child(&preset_path, "patchStrategy"),
            diag,
        );
        apply_layer(&mut compiled, &preset, strategy);
        let preset_shortcuts = compose::shortcuts(&preset, &preset_path, diag);
        if let Some(patch) = &preset_shortcuts {
            compose::patch_run(&mut run, patch, strategy);
        }
        match preset.get("runPatch").filter(|n| !n.is_null()) {
            Some(patch) if patch.as_map().is_some() => {
                compose::patch_run(&mut run, patch, strategy)
            }
            Some(_) => diag.error(
                child(&preset_path, "runPatch"),
                "runPatch must be a mapping (a partial run)",
            ),
            None => {}
        }
        checked_layers.push((with_shortcuts(preset, preset_shortcuts), preset_path));
    }
    // Polyaxon's `apply_shortcuts`: without a run section, a container
    // shortcut makes a job.
    if run.get("kind").is_none()
        && run.get("container").is_some()
        && component.get("run").is_none_or(Node::is_null)
    {
        run.set("kind", Node::string("job"));
    }
    compiled.set("run", run);
    // Each layer is checked where it was written, so findings point at the
    // author's line; the composed result is read after, and reports only
    // what the layers did not (problems that composing made).
    let mut composed = Diag::default();
    let mut job = JobSpec::default();
    read_compiled(&compiled, component_path, &mut job, &mut composed);
    let mut layers = Diag::default();
    for (layer, at) in &checked_layers {
        // A run that composing left as it was (the usual case) was just read
        // whole: its findings, at the same paths, stand for this layer's.
        if layer
            .get("run")
            .is_some_and(|run| Some(run) == compiled.get("run"))
        {
            let run_path = child(at, "run");
            layers.findings.extend(
                composed
                    .findings
                    .iter()
                    .filter(|f| f.field.as_deref().is_some_and(|p| within(p, &run_path)))
                    .cloned(),
            );
            check_layer(layer, at, false, &mut layers);
        } else {
            check_layer(layer, at, true, &mut layers);
        }
    }
    diag.findings.extend(layers.findings.iter().cloned());
    // A set, not a scan per finding: a file can have a great many.
    let reported: std::collections::HashSet<(crate::results::Severity, &str)> = layers
        .findings
        .iter()
        .map(|f| (f.severity, f.message.as_str()))
        .collect();
    for finding in composed.findings {
        if !reported.contains(&(finding.severity, finding.message.as_str())) {
            diag.findings.push(finding);
        }
    }
    job.param_env = resolution.env;
    context_volume(&mut job, diag);
    Some(job)
}

/// Polyaxon code writes under `/plx-context` (`globals.artifacts_path`,
/// `run_outputs_path`, …). A container that names such a path gets an
/// emptyDir there, shared by every container of the pod, as Polyaxon's
/// artifacts context is.
fn context_volume(job: &mut JobSpec, diag: &mut Diag) {
    const ROOT: &str = "/plx-context";
    fn mentions(node: &Node) -> bool {
        match &node.value {
            Value::Scalar(s) => s.text.contains(ROOT),
            Value::Seq(items, _) => items.iter().any(mentions),
            Value::Map(entries, _) => entries
                .iter()
                .any(|(k, v)| k.scalar_text() != Some("volumeMounts") && mentions(v)),
        }
    }
    let mut containers: Vec<&mut Node> = vec![&mut job.container];
    containers.extend(job.sidecars.iter_mut());
    containers.extend(job.init_containers.iter_mut());
    let mut used = false;
    for container in containers {
        let mounted = container
            .get("volumeMounts")
            .and_then(Node::as_seq)
            .is_some_and(|m| {
                m.iter()
                    .any(|m| m.get("mountPath").and_then(Node::scalar_text) == Some(ROOT))
            });
        if mounted || !mentions(container) {
            continue;
        }
        used = true;
        let mut mount = Node::map();
        mount.set("name", Node::string(CONTEXT_VOLUME));
        mount.set("mountPath", Node::string(ROOT));
        match container.get_mut("volumeMounts") {
            Some(Node {
                value: Value::Seq(items, _),
                ..
            }) => items.push(mount),
            _ => container.set("volumeMounts", Node::seq(vec![mount])),
        }
    }
    if used
        && !job
            .volumes
            .iter()
            .any(|v| v.get("name").and_then(Node::scalar_text) == Some(CONTEXT_VOLUME))
    {
        let mut volume = Node::map();
        volume.set("name", Node::string(CONTEXT_VOLUME));
        volume.set("emptyDir", Node::map());
        job.volumes.push(volume);
        diag.info(
            &job.run_path,
            format!("the containers use Polyaxon's {ROOT} paths: an emptyDir volume \"{CONTEXT_VOLUME}\" is mounted there"),
        );
    }
}

/// The emptyDir behind `/plx-context`.
pub const CONTEXT_VOLUME: &str = "plx-context";

/// Checks one layer on its own: its run (partial), termination and plugins.
/// Is `path` the field `parent` or one inside it?
fn within(path: &str, parent: &str) -> bool {
    path.strip_prefix(parent)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

fn check_layer(layer: &Node, path: &str, check_run: bool, diag: &mut Diag) {
    let mut scratch = JobSpec::default();
    if let Some(run) = layer
        .get("run")
        .filter(|n| check_run && n.as_map().is_some())
    {
        read_run(run, &child(path, "run"), &mut scratch, diag, true);
    }
    if let Some(patch) = layer.get("runPatch").filter(|n| n.as_map().is_some()) {
        read_run(patch, &child(path, "runPatch"), &mut scratch, diag, true);
    }
    if let Some(shortcuts) = layer.get("shortcuts") {
        read_run(shortcuts, path, &mut scratch, diag, true);
    }
    if let Some(t) = layer.get("termination") {
        read_termination(
            t,
            &child(path, "termination"),
            &mut scratch.termination,
            diag,
        );
    }
    if let Some(p) = layer.get("plugins") {
        read_plugins(p, &child(path, "plugins"), &mut scratch, diag);
    }
    if let Some(s) = layer.get("schedule").filter(|n| !n.is_null()) {
        read_schedule(s, &child(path, "schedule"), diag);
    }
}

/// The names in a file's `presets: [...]`, with their paths.
fn preset_list(file: &Node, path: &str, diag: &mut Diag) -> Vec<(String, String)> {
    let Some(list) = file.get("presets").filter(|n| !n.is_null()) else {
        return Vec::new();
    };
    let at = child(path, "presets");
    match list.as_seq() {
        Some(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match n.as_str() {
                Some(name) => Some((name.to_string(), index(&at, i))),
                None => {
                    diag.error(index(&at, i), "a preset is named by a string");
                    None
                }
            })
            .collect(),
        None => {
            diag.error(&at, "presets must be a list of preset names");
            Vec::new()
        }
    }
}

/// An operation's or preset's own `name`, `termination`, `plugins`,
/// `schedule` and `namespace` over the component's.
fn apply_layer(compiled: &mut Node, layer: &Node, strategy: Strategy) {
    for key in ["name", "schedule", "namespace"] {
        if let Some(v) = layer.get(key).filter(|n| !n.is_null()) {
            compose::apply_field(
                compiled,
                key,
                v,
                if key == "name" {
                    Strategy::Replace
                } else {
                    strategy
                },
            );
        }
    }
    for key in ["termination", "plugins"] {
        if let Some(fields) = layer.get(key).and_then(Node::as_map) {
            let mut section = compiled
                .get(key)
                .filter(|n| n.as_map().is_some())
                .cloned()
                .unwrap_or_else(Node::map);
            for (k, v) in fields {
                compose::apply_field(
                    &mut section,
                    k.scalar_text().unwrap_or_default(),
                    v,
                    strategy,
                );
            }
            compiled.set(key, section);
        }
    }
}

/// `schedule: {kind: cron, cron, dependsOnPast}` → a CronJob schedule.
fn read_schedule(s: &Node, path: &str, diag: &mut Diag) -> Option<Schedule> {
    const FIELDS: &[&str] = &[
        "kind",
        "cron",
        "startAt",
        "endAt",
        "maxRuns",
        "dependsOnPast",
        "frequency",
    ];
    if !diag.check_fields(s, FIELDS, "schedule", path) {
        return None;
    }
    match s.get("kind").and_then(Node::scalar_text) {
        Some("cron") => {}
        Some(kind @ ("interval" | "datetime")) => {
            diag.error(
                child(path, "kind"),
                format!(
                    "{kind} schedules have no Kubernetes equivalent; use kind: cron (a CronJob)"
                ),
            );
            return None;
        }
        other => {
            diag.error(
                child(path, "kind"),
                format!(
                    "schedule kind {} is not one of cron, interval, datetime",
                    other.unwrap_or("(none)")
                ),
            );
            return None;
        }
    }
    for key in ["startAt", "endAt", "maxRuns"] {
        if s.get(key).is_some_and(|n| !n.is_null()) {
            diag.error(
                child(path, key),
                format!("{key} has no CronJob equivalent; remove it (suspend or delete the CronJob instead)"),
            );
        }
    }
    let Some(cron) = s.get("cron").and_then(Node::as_str) else {
        diag.error(path, "a cron schedule needs cron (e.g. \"0 2 * * *\")");
        return None;
    };
    let fields = cron.split_whitespace().count();
    let macro_ok = matches!(
        cron.trim(),
        "@yearly" | "@annually" | "@monthly" | "@weekly" | "@daily" | "@midnight" | "@hourly"
    );
    if !(macro_ok || fields == 5) {
        diag.error(
            child(path, "cron"),
            format!("\"{cron}\" is not a cron schedule of 5 fields (minute hour day month weekday) or @hourly/@daily/…"),
        );
        return None;
    }
    let depends_on_past = match s.get("dependsOnPast").and_then(Node::resolve) {
        None | Some(Resolved::Null) => false,
        Some(Resolved::Bool(b)) => b,
        _ => {
            diag.error(
                child(path, "dependsOnPast"),
                "dependsOnPast must be true or false",
            );
            false
        }
    };
    Some(Schedule {
        cron: cron.trim().to_string(),
        depends_on_past,
    })
}

/// Reads a composed, rendered file: name, namespace, termination, plugins, run.
fn read_compiled(compiled: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag) {
    if let Some(value) = compiled.get("name") {
        match value.scalar_text() {
            Some(name)
                if !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                job.name = Some(name.to_string());
            }
            _ => diag.error(
                child(path, "name"),
                "name must match ^[-a-zA-Z0-9_]+$ (Polyaxon's rule)",
            ),
        }
    }
    if let Some(value) = compiled.get("namespace") {
        match value.as_str() {
            Some(ns) if validate::dns_label(ns).is_ok() => job.namespace = Some(ns.to_string()),
            _ => diag.error(
                child(path, "namespace"),
                "namespace must be a DNS-1123 label",
            ),
        }
    }
    match compiled
        .get("run")
        .filter(|r| r.as_map().is_some_and(|m| !m.is_empty()))
    {
        Some(run) => read_run(run, &child(path, "run"), job, diag, false),
        None => diag.error(path, "the file has no run section"),
    }
    if let Some(t) = compiled.get("termination") {
        read_termination(t, &child(path, "termination"), &mut job.termination, diag);
    }
    if let Some(p) = compiled.get("plugins") {
        read_plugins(p, &child(path, "plugins"), job, diag);
    }
    if let Some(s) = compiled.get("schedule").filter(|n| !n.is_null()) {
        job.schedule = read_schedule(s, &child(path, "schedule"), diag);
    }
    if job.termination.pod_failure_policy.is_some()
        && job.restart_policy.as_deref() == Some("OnFailure")
    {
        diag.error(
            child(path, "termination.podFailurePolicy"),
            "a podFailurePolicy needs restartPolicy Never (Kubernetes rule); remove environment.restartPolicy: OnFailure",
        );
    }
}

/// Reads a `run`. A `partial` one (a layer: runPatch, shortcuts, a preset)
/// may lack `kind` and `container`.
fn read_run(run: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag, partial: bool) {
    let kind = match run.get("kind") {
        Some(kind_node) => kind_node.scalar_text().unwrap_or_default(),
        None if partial => "job",
        None => {
            diag.error(path, "run.kind is required (job)");
            return;
        }
    };
    if kind != "job" {
        let at = child(path, "kind");
        if RUN_KINDS.contains(&kind) {
            diag.error(
                &at,
                format!("run.kind {kind} is not supported yet (supported: job)"),
            );
        } else {
            let hint = did_you_mean(kind, RUN_KINDS.iter().copied())
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            diag.error(&at, format!("unknown run.kind \"{kind}\"{hint}"));
        }
        return;
    }
    if !diag.check_fields(run, JOB_FIELDS, "run (job)", path) {
        return;
    }
    if let Some(env) = run.get("environment").filter(|n| !n.is_null()) {
        read_environment(env, &child(path, "environment"), job, diag);
    }
    job.run_path = path.to_string();
    if let Some(connections) = run.get("connections").filter(|n| !n.is_null()) {
        read_connection_names(connections, &child(path, "connections"), job, diag);
    }
    job.volumes = read_list(
        run.get("volumes"),
        &child(path, "volumes"),
        Kind::Volume,
        diag,
    );
    job.sidecars = read_list(
        run.get("sidecars"),
        &child(path, "sidecars"),
        Kind::Container,
        diag,
    );
    if let Some(init) = run.get("init").filter(|n| !n.is_null()) {
        read_init(init, &child(path, "init"), job, diag);
    }
    match run.get("container").filter(|n| !n.is_null()) {
        Some(container) => {
            let mut container = container.clone();
            name_first(&mut container, "main");
            k8s::normalize(
                &mut container,
                Kind::Container,
                &child(path, "container"),
                diag,
            );
            job.container = container;
        }
        None if partial => {}
        None => diag.error(path, "run.container is required for a job"),
    }
}

/// `run.connections`: names of catalog entries (never inline definitions).
fn read_connection_names(list: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag) {
    let Some(items) = list.as_seq() else {
        diag.error(path, "expected a list of connection names");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let at = index(path, i);
        match (&item.value, item.scalar_text()) {
            (Value::Scalar(_), Some(name)) => {
                if job.connection_refs.iter().any(|(n, _)| n == name) {
                    diag.warning(
                        &at,
                        format!("connection \"{name}\" is listed twice; it is used once"),
                    );
                } else {
                    job.connection_refs.push((name.to_string(), at));
                }
            }
            (Value::Map(..), _) => {
                let name = item
                    .get("name")
                    .and_then(Node::scalar_text)
                    .unwrap_or("the connection");
                diag.error(
                    &at,
                    format!(
                        "expected a connection name (string), got a mapping; declare \"{name}\" in the connection catalog (RenderPolyaxon connections) and reference it by name"
                    ),
                );
            }
            _ => diag.error(&at, "expected a connection name (string)"),
        }
    }
}

fn read_list(node: Option<&Node>, path: &str, kind: Kind, diag: &mut Diag) -> Vec<Node> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Vec::new();
    };
    let Some(items) = node.as_seq() else {
        diag.error(path, "expected a list");
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut item = item.clone();
            // Polyaxon names an unnamed sidecar itself (`sidecar-<hex>`).
            if matches!(kind, Kind::Container) && item.as_map().is_some() {
                name_first(&mut item, &format!("sidecar-{i}"));
            }
            k8s::normalize(&mut item, kind, &index(path, i), diag);
            item
        })
        .collect()
}

fn read_init(init: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag) {
    let Some(items) = init.as_seq() else {
        diag.error(path, "expected a list of init entries");
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let at = index(path, i);
        if !diag.check_fields(item, INIT_FIELDS, "an init entry", &at) {
            continue;
        }
        let handlers: Vec<&str> = INIT_FIELDS
            .iter()
            .copied()
            .filter(|f| !matches!(*f, "container" | "path" | "connection"))
            .filter(|f| item.get(f).is_some_and(|n| !n.is_null()))
            .collect();
        let connection = match item.get("connection").filter(|n| !n.is_null()) {
            Some(c) => match c.as_str() {
                Some(name) => Some((name.to_string(), child(&at, "connection"))),
                None => {
                    diag.error(
                        child(&at, "connection"),
                        "expected a connection name (string)",
                    );
                    continue;
                }
            },
            None => None,
        };
        let dir = match item.get("path").filter(|n| !n.is_null()) {
            Some(p) => match p.as_str() {
                Some(dir) if dir.starts_with('/') && !dir.split('/').any(|p| p == "..") => {
                    Some(dir.to_string())
                }
                _ => {
                    diag.error(
                        child(&at, "path"),
                        "init.path must be an absolute path without '..'",
                    );
                    continue;
                }
            },
            None => None,
        };
        match handlers.as_slice() {
            [] => {}
            [handler @ ("git" | "file" | "dockerfile")] => {
                if item.get("container").is_some_and(|n| !n.is_null()) {
                    diag.error(
                        child(&at, "container"),
                        format!("a {handler} init entry takes no container"),
                    );
                }
                job.handlers.push(InitHandler {
                    kind: handler,
                    entry: item.clone(),
                    path: at,
                    index: i,
                    dir,
                    connection,
                });
                continue;
            }
            [handler @ ("artifacts" | "paths")] => {
                diag.error(
                    child(&at, handler),
                    format!("init handler \"{handler}\" copies from Polyaxon's artifacts store, which is not supported yet; mount the volume or use an init container"),
                );
                continue;
            }
            [handler] => {
                diag.error(
                    child(&at, handler),
                    format!("init handler \"{handler}\" needs the Polyaxon control plane and is not supported"),
                );
                continue;
            }
            [_, _, ..] => {
                diag.error(&at, "only one of artifacts, paths, git, file, dockerfile, tensorboard, lineageRef, modelRef or artifactRef can be set");
                continue;
            }
        }
        if dir.is_some() {
            diag.error(child(&at, "path"), "init.path applies to the git, file and dockerfile handlers, not to an init container");
        }
        match item.get("container").filter(|n| !n.is_null()) {
            Some(container) => {
                let mut container = container.clone();
                name_first(&mut container, &format!("init-{i}"));
                k8s::normalize(
                    &mut container,
                    Kind::Container,
                    &child(&at, "container"),
                    diag,
                );
                job.init_containers.push(container);
                job.init_paths.push(child(&at, "container"));
                job.init_connections.push(connection);
                job.init_from_handler.push(false);
                job.init_index.push(i);
            }
            // Only a connection: Polyaxon clones a git connection, downloads a store.
            None if connection.is_some() => job.handlers.push(InitHandler {
                kind: "connection",
                entry: item.clone(),
                path: at,
                index: i,
                dir,
                connection,
            }),
            None => diag.error(
                &at,
                "an init entry needs a container or a handler (git, file, dockerfile)",
            ),
        }
    }
}

/// A built-in init handler, resolved once the catalog and the Job name are known.
#[derive(Debug, Clone)]
pub struct InitHandler {
    pub kind: &'static str,
    pub entry: Node,
    pub path: String,
    pub index: usize,
    pub dir: Option<String>,
    pub connection: Option<(String, String)>,
}

/// Turns the init handlers into init containers, volumes, mounts and
/// ConfigMaps. Handler containers run first, as in Polyaxon.
pub fn apply_handlers(job: &mut JobSpec, sources: &Sources<'_>, git_image: &str, diag: &mut Diag) {
    let mut containers = Vec::new();
    for handler in std::mem::take(&mut job.handlers) {
        let connection = handler
            .connection
            .as_ref()
            .and_then(|(name, _)| sources.catalog.iter().find(|c| &c.name == name));
        if let (Some((name, at)), None) = (&handler.connection, connection) {
            diag.error(
                at,
                crate::catalog::missing_message(
                    name,
                    sources.catalog,
                    sources.invalid_connections,
                    sources.catalog_unreadable,
                ),
            );
            continue;
        }
        let h = init::Handler {
            entry: &handler.entry,
            path: &handler.path,
            index: handler.index,
            job_name: sources.globals.name,
            connection,
            git_image,
        };
        let dir = handler.dir.as_deref();
        let added = match handler.kind {
            "git" => init::git(&h, dir, diag),
            "connection" => match connection {
                Some(c) if c.kind == "git" => init::git(&h, dir, diag),
                Some(c) => {
                    diag.error(
                        child(&handler.path, "connection"),
                        format!(
                            "an init entry with only a {} connection is a store download, which is not supported yet; mount the data or add a container",
                            c.kind
                        ),
                    );
                    None
                }
                None => None,
            },
            "file" => init::file(&h, dir, diag),
            _ => init::dockerfile(&h, dir, diag),
        };
        let Some(added) = added else { continue };
        if let Some(mut container) = added.init_container {
            // Two clones of `…/utils` get distinct names.
            let taken = |n: &str| {
                containers.iter().any(
                    |(c, ..): &(Node, String, Option<(String, String)>, usize)| {
                        c.get("name").and_then(Node::scalar_text) == Some(n)
                    },
                ) || job
                    .init_containers
                    .iter()
                    .any(|c| c.get("name").and_then(Node::scalar_text) == Some(n))
            };
            if let Some(name) = container
                .get("name")
                .and_then(Node::scalar_text)
                .map(str::to_string)
                && taken(&name)
            {
                container.set("name", Node::string(format!("{name}-{}", handler.index)));
            }
            containers.push((
                container,
                handler.path.clone(),
                handler.connection.clone(),
                handler.index,
            ));
        }
        job.volumes.extend(added.volumes);
        for m in added.main_mounts {
            match job.container.get_mut("volumeMounts") {
                Some(Node {
                    value: Value::Seq(items, _),
                    ..
                }) => items.push(m),
                _ => job.container.set("volumeMounts", Node::seq(vec![m])),
            }
        }
        if let Some(cm) = added.config_map {
            job.config_maps.push(cm);
        }
    }
    // Polyaxon's order (`get_init_containers`): the init entries it manages
    // (handlers, and containers tied to a connection) in file order, then
    // the author's plain init containers.
    struct Init {
        plain: bool,
        index: usize,
        node: Node,
        path: String,
        connection: Option<(String, String)>,
        from_handler: bool,
    }
    let mut all: Vec<Init> = containers
        .into_iter()
        .map(|(node, path, connection, index)| Init {
            plain: false,
            index,
            node,
            path,
            connection,
            from_handler: true,
        })
        .collect();
    let indexes = std::mem::take(&mut job.init_index);
    let authored = std::mem::take(&mut job.init_containers)
        .into_iter()
        .zip(std::mem::take(&mut job.init_paths))
        .zip(std::mem::take(&mut job.init_connections))
        .zip(std::mem::take(&mut job.init_from_handler))
        .enumerate();
    for (k, (((node, path), connection), from_handler)) in authored {
        all.push(Init {
            plain: connection.is_none() && !from_handler,
            index: indexes.get(k).copied().unwrap_or(usize::MAX),
            node,
            path,
            connection,
            from_handler,
        });
    }
    all.sort_by_key(|i| (i.plain, i.index));
    for i in all {
        job.init_containers.push(i.node);
        job.init_paths.push(i.path);
        job.init_connections.push(i.connection);
        job.init_from_handler.push(i.from_handler);
        job.init_index.push(i.index);
    }
}

fn read_environment(env: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag) {
    if !diag.check_fields(env, ENVIRONMENT_FIELDS, "environment", path) {
        return;
    }
    for field in ENVIRONMENT_FIELDS {
        let Some(value) = env.get(field).filter(|n| !n.is_null()) else {
            continue;
        };
        let at = child(path, field);
        let mut value = value.clone();
        match *field {
            "labels" | "annotations" => {
                k8s::normalize_string_map(&mut value, &at, diag);
                let entries = value.as_map().cloned().unwrap_or_default();
                if *field == "labels" {
                    validate::labels(&entries, &at, diag);
                    job.pod_labels = entries;
                } else {
                    job.pod_annotations = entries;
                }
            }
            "restartPolicy" => match value.as_str() {
                Some(p @ ("Never" | "OnFailure")) => job.restart_policy = Some(p.to_string()),
                Some(p) => diag.error(
                    &at,
                    format!(
                        "restartPolicy \"{p}\" is not allowed for a Job (allowed: Never, OnFailure)"
                    ),
                ),
                None => diag.error(&at, "restartPolicy must be Never or OnFailure"),
            },
            "imagePullSecrets" => {
                if let Some(list) = read_image_pull_secrets(&value, &at, diag) {
                    job.pod_fields.push(((*field).to_string(), list));
                }
            }
            "securityContext" => {
                // Polyaxon validates this as a container SecurityContext and
                // emits such fields at pod level, where Kubernetes drops them.
                if let Some(entries) = value.as_map_mut() {
                    entries.retain(|(k, _)| {
                        let k = k.scalar_text().unwrap_or_default();
                        let misplaced = !k8s::has_field(Kind::PodSecurityContext, k) && is_container_only_security_field(k);
                        if misplaced {
                            diag.error(
                                child(&at, k),
                                format!("\"{k}\" is a container securityContext field, not a pod one; move it to run.container.securityContext"),
                            );
                        }
                        !misplaced
                    });
                }
                k8s::normalize(&mut value, Kind::PodSecurityContext, &at, diag);
                job.pod_fields.push(((*field).to_string(), value));
            }
            "serviceAccountName" | "priorityClassName" | "schedulerName" => {
                k8s::normalize_pod_field(&mut value, field, &at, diag);
                if let Some(name) = value.as_str()
                    && let Err(e) = validate::dns_subdomain(name)
                {
                    diag.error(&at, format!("\"{name}\" is not a valid {field}: {e}"));
                }
                job.pod_fields.push(((*field).to_string(), value));
            }
            _ => {
                k8s::normalize_pod_field(&mut value, field, &at, diag);
                job.pod_fields.push(((*field).to_string(), value));
            }
        }
    }
}

fn is_container_only_security_field(field: &str) -> bool {
    matches!(
        field,
        "privileged"
            | "capabilities"
            | "allowPrivilegeEscalation"
            | "readOnlyRootFilesystem"
            | "procMount"
    )
}

fn read_image_pull_secrets(value: &Node, path: &str, diag: &mut Diag) -> Option<Node> {
    let Some(items) = value.as_seq() else {
        diag.error(path, "expected a list of Secret names");
        return None;
    };
    let mut names: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = index(path, i);
        let name = match &item.value {
            Value::Scalar(_) => item.as_str(),
            Value::Map(..) => {
                diag.check_fields(item, &["name"], "an imagePullSecrets entry", &at);
                item.get("name").and_then(Node::as_str)
            }
            Value::Seq(..) => None,
        };
        match name {
            Some(name) => match validate::dns_subdomain(name) {
                Ok(()) if !names.iter().any(|n| n == name) => names.push(name.to_string()),
                Ok(()) => {}
                Err(e) => diag.error(&at, format!("\"{name}\" is not a valid Secret name: {e}")),
            },
            None => diag.error(&at, "expected a Secret name"),
        }
    }
    Some(Node::seq(
        names
            .into_iter()
            .map(|n| {
                let mut entry = Node::map();
                entry.set("name", Node::string(n));
                entry
            })
            .collect(),
    ))
}

fn read_termination(t: &Node, path: &str, out: &mut Termination, diag: &mut Diag) {
    if t.is_null() || !diag.check_fields(t, TERMINATION_FIELDS, "termination", path) {
        return;
    }
    let number = |key: &str, diag: &mut Diag| -> Option<i64> {
        let node = t.get(key).filter(|n| !n.is_null())?;
        let at = child(path, key);
        match node.resolve() {
            Some(Resolved::Int(text)) => match text.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                Ok(_) => {
                    diag.error(&at, format!("{key} must be 0 or more"));
                    None
                }
                Err(_) => {
                    diag.error(&at, format!("{key} is out of range"));
                    None
                }
            },
            Some(Resolved::Str(text)) if text.parse::<i64>().is_ok() => {
                diag.error(
                    &at,
                    format!(
                        "the quoted string \"{text}\" where an integer is wanted; remove the quotes"
                    ),
                );
                None
            }
            _ => {
                diag.error(&at, format!("{key} must be an integer"));
                None
            }
        }
    };
    if let Some(n) = number("maxRetries", diag) {
        out.max_retries = Some(n);
    }
    if let Some(n) = number("timeout", diag) {
        if n == 0 {
            diag.warning(
                child(path, "timeout"),
                "timeout 0 becomes activeDeadlineSeconds 0, which stops the Job as soon as it starts",
            );
        }
        out.timeout = Some(n);
    }
    if let Some(n) = number("ttl", diag) {
        out.ttl = Some(n);
    }
    for key in ["culling", "probe"] {
        if t.get(key).is_some_and(|n| !n.is_null()) {
            diag.error(
                child(path, key),
                format!("termination.{key} is enforced by Polyaxon's operator; a plain Job cannot express it"),
            );
        }
    }
    if let Some(policy) = t.get("podFailurePolicy").filter(|n| !n.is_null()) {
        let mut policy = policy.clone();
        k8s::normalize(
            &mut policy,
            Kind::PodFailurePolicy,
            &child(path, "podFailurePolicy"),
            diag,
        );
        out.pod_failure_policy = Some(policy);
    }
}

fn read_plugins(p: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag) {
    if p.is_null() || !diag.check_fields(p, PLUGIN_FIELDS, "plugins", path) {
        return;
    }
    for (key, value) in p.as_map().into_iter().flatten() {
        let key = key.scalar_text().unwrap_or_default();
        if key == "shm" {
            match value.resolve() {
                Some(Resolved::Bool(b)) => job.shm = b,
                Some(Resolved::Null) => {}
                _ => diag.error(child(path, key), "plugins.shm must be true or false"),
            }
        } else if PLUGIN_FIELDS.contains(&key) && !value.is_null() {
            diag.info(
                child(path, key),
                format!("plugins.{key} is Polyaxon platform plumbing; ignored"),
            );
        }
    }
}

/// Gives a container without a name `default`, written first as kubectl does.
fn name_first(container: &mut Node, default: &str) {
    if container.get("name").is_none_or(Node::is_null) {
        container.remove("name");
        if let Some(entries) = container.as_map_mut() {
            entries.insert(0, (Node::key("name"), Node::string(default)));
        }
    }
}
