//! Reads a Polyaxon file (component or operation) into the domain types the
//! Job builder needs, as strictly as Polyaxon does (unknown sections and
//! fields are errors) and with every feature not built yet reported by name.

use super::diag::{Diag, child, index};
use super::k8s::{self, Kind};
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
    pub container: Node,
    pub sidecars: Vec<Node>,
    pub volumes: Vec<Node>,
}

#[derive(Debug, Default)]
pub struct Termination {
    pub max_retries: Option<i64>,
    pub timeout: Option<i64>,
    pub ttl: Option<i64>,
    pub pod_failure_policy: Option<Node>,
}

/// Reads `spec` (the Polyaxon file) found at `path` of its item.
pub fn read(spec: &Node, path: &str, diag: &mut Diag) -> Option<JobSpec> {
    if spec.as_map().is_none() {
        diag.error(
            path,
            "expected a Polyaxon file (a mapping with kind and run)",
        );
        return None;
    }
    report_templates(spec, path, diag);
    let mut job = JobSpec::default();
    read_file(spec, path, &mut job, diag, 0)?;
    Some(job)
}

/// One error per file for `{{ }}` templates, naming where they are.
fn report_templates(spec: &Node, path: &str, diag: &mut Diag) {
    let mut places = Vec::new();
    find_templates(spec, path, &mut places);
    if let Some(first) = places.first() {
        let shown: Vec<&str> = places.iter().take(5).map(String::as_str).collect();
        let more = places.len().saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        diag.error(
            first,
            format!(
                "templates ({{{{ ... }}}}) are not supported yet: params and template contexts come in a later release (used at {}{more})",
                shown.join(", ")
            ),
        );
    }
}

fn find_templates(node: &Node, path: &str, places: &mut Vec<String>) {
    match &node.value {
        Value::Scalar(s) if s.text.contains("{{") || s.text.contains("{%") => {
            places.push(path.to_string())
        }
        Value::Scalar(_) => {}
        Value::Seq(items, _) => {
            for (i, item) in items.iter().enumerate() {
                find_templates(item, &index(path, i), places);
            }
        }
        Value::Map(entries, _) => {
            for (k, v) in entries {
                find_templates(v, &child(path, k.scalar_text().unwrap_or_default()), places);
            }
        }
    }
}

fn read_file(
    spec: &Node,
    path: &str,
    job: &mut JobSpec,
    diag: &mut Diag,
    depth: usize,
) -> Option<()> {
    let entries = spec.as_map()?;
    let kind = match spec.get("kind") {
        None => "component".to_string(),
        Some(k) => match k.as_str() {
            Some(k @ ("component" | "operation")) => k.to_string(),
            _ => {
                diag.error(
                    &child(path, "kind"),
                    format!(
                        "kind must be component or operation, found {}",
                        k.scalar_text().unwrap_or("a collection")
                    ),
                );
                return None;
            }
        },
    };
    for (key, value) in entries {
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
            "version" | "kind" | "description" | "tags" | "strictParams" | "run" | "component"
            | "termination" | "plugins" => {}
            "name" => match value.scalar_text() {
                Some(name) if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') => {
                    job.name = Some(name.to_string());
                }
                _ => diag.error(&at, "name must match ^[-a-zA-Z0-9_]+$ (Polyaxon's rule)"),
            },
            "namespace" => match value.as_str() {
                Some(ns) if validate::dns_label(ns).is_ok() => job.namespace = Some(ns.to_string()),
                _ => diag.error(&at, "namespace must be a DNS-1123 label"),
            },
            "queue" | "cache" | "cost" | "isApproved" | "template" => diag.info(
                &at,
                format!("\"{key}\" is read by Polyaxon's control plane only; ignored"),
            ),
            "inputs" | "outputs" | "params" | "contexts" => diag.error(
                &at,
                format!("{key} are not supported yet: params and templates come in a later release"),
            ),
            "hubRef" | "pathRef" | "dagRef" | "urlRef" => diag.error(
                &at,
                format!("{key} is not supported yet: put the component inline under `component`"),
            ),
            "presets" | "isPreset" => diag.error(&at, format!("{key}: presets are not supported yet")),
            "patchStrategy" | "runPatch" => {
                diag.error(&at, format!("{key}: runPatch composition is not supported yet"));
            }
            "schedule" => diag.error(&at, "schedule: CronJobs are not supported yet"),
            "matrix" | "joins" | "dependencies" | "trigger" | "conditions" | "skipOnUpstreamSkip"
            | "events" | "operations" => diag.error(
                &at,
                format!("{key} needs Polyaxon's pipeline scheduler; a plain Kubernetes Job cannot express it"),
            ),
            "build" | "hooks" | "mount" => diag.error(
                &at,
                format!("{key} needs Polyaxon's control plane; not supported"),
            ),
            _ => diag.error(
                &at,
                format!("the top-level shortcut \"{key}\" is not supported yet: write it under run"),
            ),
        }
    }
    if kind == "operation" {
        match spec.get("component") {
            Some(component) if component.as_map().is_some() && depth == 0 => {
                read_file(component, &child(path, "component"), job, diag, depth + 1)?;
            }
            Some(_) if depth > 0 => {
                diag.error(
                    &child(path, "component"),
                    "a component cannot contain another operation",
                );
                return None;
            }
            Some(_) => {
                diag.error(
                    &child(path, "component"),
                    "component must be a Polyaxon component (a mapping)",
                );
                return None;
            }
            None => {
                if ["hubRef", "pathRef", "dagRef", "urlRef"]
                    .iter()
                    .all(|r| spec.get(r).is_none())
                {
                    diag.error(
                        path,
                        "an operation needs a component (inline under `component`)",
                    );
                }
                return None;
            }
        }
        // Operation-level fields win over the component's.
        if let Some(name) = spec.get("name").and_then(Node::scalar_text) {
            job.name = Some(name.to_string());
        }
    } else {
        if spec.get("component").is_some() {
            diag.error(
                &child(path, "component"),
                "only an operation has a component",
            );
        }
        match spec.get("run") {
            Some(run) => read_run(run, &child(path, "run"), job, diag),
            None => diag.error(path, "the component has no run section"),
        }
    }
    if let Some(t) = spec.get("termination") {
        read_termination(t, &child(path, "termination"), &mut job.termination, diag);
    }
    if let Some(p) = spec.get("plugins") {
        read_plugins(p, &child(path, "plugins"), job, diag);
    }
    if depth == 0
        && job.termination.pod_failure_policy.is_some()
        && job.restart_policy.as_deref() == Some("OnFailure")
    {
        diag.error(
            &child(path, "termination.podFailurePolicy"),
            "a podFailurePolicy needs restartPolicy Never (Kubernetes rule); remove environment.restartPolicy: OnFailure",
        );
    }
    Some(())
}

fn check_fields(node: &Node, known: &[&str], what: &str, path: &str, diag: &mut Diag) -> bool {
    let Some(entries) = node.as_map() else {
        diag.error(path, format!("expected a mapping ({what})"));
        return false;
    };
    for (key, _) in entries {
        let key = key.scalar_text().unwrap_or_default();
        if !known.contains(&key) {
            let hint = did_you_mean(key, known.iter().copied())
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            diag.error(
                &child(path, key),
                format!("unknown field \"{key}\" in {what}{hint}"),
            );
        }
    }
    true
}

fn read_run(run: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag) {
    let Some(kind_node) = run.get("kind") else {
        diag.error(path, "run.kind is required (job)");
        return;
    };
    let kind = kind_node.scalar_text().unwrap_or_default();
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
    if !check_fields(run, JOB_FIELDS, "run (job)", path, diag) {
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
            k8s::normalize(
                &mut container,
                Kind::Container,
                &child(path, "container"),
                diag,
            );
            name_first(&mut container, "main");
            job.container = container;
        }
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
        if !check_fields(item, INIT_FIELDS, "an init entry", &at, diag) {
            continue;
        }
        let handlers: Vec<&str> = INIT_FIELDS
            .iter()
            .copied()
            .filter(|f| !matches!(*f, "container" | "path" | "connection"))
            .filter(|f| item.get(f).is_some_and(|n| !n.is_null()))
            .collect();
        if let Some(handler) = handlers.first() {
            diag.error(
                &child(&at, handler),
                format!("the init handler \"{handler}\" is not supported yet; use a plain init container"),
            );
            continue;
        }
        if item.get("path").is_some_and(|n| !n.is_null()) {
            diag.error(&child(&at, "path"), "init.path only applies to init handlers (git, file, …), which are not supported yet");
        }
        let connection = match item.get("connection").filter(|n| !n.is_null()) {
            Some(c) => match c.as_str() {
                Some(name) => Some((name.to_string(), child(&at, "connection"))),
                None => {
                    diag.error(
                        &child(&at, "connection"),
                        "expected a connection name (string)",
                    );
                    continue;
                }
            },
            None => None,
        };
        match item.get("container").filter(|n| !n.is_null()) {
            Some(container) => {
                let mut container = container.clone();
                k8s::normalize(
                    &mut container,
                    Kind::Container,
                    &child(&at, "container"),
                    diag,
                );
                name_first(&mut container, &format!("init-{i}"));
                job.init_containers.push(container);
                job.init_paths.push(child(&at, "container"));
                job.init_connections.push(connection);
            }
            None if connection.is_some() => diag.error(
                &child(&at, "connection"),
                "an init entry with only a connection (a store download or a git clone) is not supported yet; give it a container",
            ),
            None => diag.error(&at, "an init entry needs a container"),
        }
    }
}

fn read_environment(env: &Node, path: &str, job: &mut JobSpec, diag: &mut Diag) {
    if !check_fields(env, ENVIRONMENT_FIELDS, "environment", path, diag) {
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
                                &child(&at, k),
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
                check_fields(item, &["name"], "an imagePullSecrets entry", &at, diag);
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
    if t.is_null() || !check_fields(t, TERMINATION_FIELDS, "termination", path, diag) {
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
                &child(path, "timeout"),
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
                &child(path, key),
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
    if p.is_null() || !check_fields(p, PLUGIN_FIELDS, "plugins", path, diag) {
        return;
    }
    for (key, value) in p.as_map().into_iter().flatten() {
        let key = key.scalar_text().unwrap_or_default();
        if key == "shm" {
            match value.resolve() {
                Some(Resolved::Bool(b)) => job.shm = b,
                Some(Resolved::Null) => {}
                _ => diag.error(&child(path, key), "plugins.shm must be true or false"),
            }
        } else if PLUGIN_FIELDS.contains(&key) && !value.is_null() {
            diag.info(
                &child(path, key),
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
