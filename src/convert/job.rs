//! Builds the `batch/v1` Job from a validated [`JobSpec`]. Pure: no I/O, no
//! clock, no randomness, so the same input always gives the same bytes.

use super::polyaxon::JobSpec;
use crate::config::Defaults;
use crate::yaml::{Node, Value};

pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const APP_NAME: &str = "app.kubernetes.io/name";
pub const TOOL: &str = "polyaxon-krm";

/// Where the Job goes and what it carries from its source.
pub struct Target<'a> {
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    pub labels: &'a [(Node, Node)],
    pub annotations: &'a [(Node, Node)],
}

fn merge_into(map: &mut Node, entries: &[(Node, Node)]) {
    for (k, v) in entries {
        if let Some(key) = k.scalar_text() {
            let mut value = v.clone();
            // Label and annotation values are strings whatever the author wrote.
            if let Value::Scalar(s) = &mut value.value {
                if s.style == crate::yaml::Style::Plain {
                    s.style = crate::yaml::Style::Auto;
                }
                s.tag = None;
            }
            map.set(key, value);
        }
    }
}

fn standard_labels(map: &mut Node, name: &str) {
    map.set(MANAGED_BY, Node::string(TOOL));
    map.set(APP_NAME, Node::string(name));
}

pub fn build(job: &JobSpec, target: &Target<'_>, defaults: &Defaults) -> Node {
    let mut metadata = Node::map();
    metadata.set("name", Node::string(target.name));
    if let Some(ns) = target.namespace {
        metadata.set("namespace", Node::string(ns));
    }
    let mut labels = Node::map();
    merge_into(&mut labels, &defaults.labels);
    merge_into(&mut labels, target.labels);
    standard_labels(&mut labels, target.name);
    metadata.set("labels", labels);
    let mut annotations = Node::map();
    merge_into(&mut annotations, &defaults.annotations);
    merge_into(&mut annotations, target.annotations);
    if annotations.as_map().is_some_and(|m| !m.is_empty()) {
        metadata.set("annotations", annotations);
    }

    let mut spec = Node::map();
    let backoff = job
        .termination
        .max_retries
        .unwrap_or(defaults.backoff_limit);
    spec.set("backoffLimit", Node::int(backoff));
    if let Some(timeout) = job.termination.timeout {
        spec.set("activeDeadlineSeconds", Node::int(timeout));
    }
    if let Some(ttl) = job.termination.ttl.or(defaults.ttl_seconds_after_finished) {
        spec.set("ttlSecondsAfterFinished", Node::int(ttl));
    }
    if let Some(policy) = &job.termination.pod_failure_policy {
        spec.set("podFailurePolicy", policy.clone());
    }
    spec.set("template", pod_template(job, target, defaults));

    let mut object = Node::map();
    object.set("apiVersion", Node::string("batch/v1"));
    if let Some(schedule) = &job.schedule {
        // A scheduled operation: each tick runs the Job.
        let mut template_metadata = Node::map();
        if let Some(labels) = metadata.get("labels") {
            template_metadata.set("labels", labels.clone());
        }
        let mut job_template = Node::map();
        job_template.set("metadata", template_metadata);
        job_template.set("spec", spec);
        let mut cron_spec = Node::map();
        cron_spec.set("schedule", Node::string(&schedule.cron));
        if schedule.depends_on_past {
            cron_spec.set("concurrencyPolicy", Node::string("Forbid"));
        }
        cron_spec.set("jobTemplate", job_template);
        object.set("kind", Node::string("CronJob"));
        object.set("metadata", metadata);
        object.set("spec", cron_spec);
        return object;
    }
    object.set("kind", Node::string("Job"));
    object.set("metadata", metadata);
    object.set("spec", spec);
    object
}

/// `plugins.shm`: /dev/shm in the main container and every sidecar, right
/// after the author's own mounts, as Polyaxon mounts it (`_get_mounts`, before
/// init-context and connection mounts). PyTorch data loaders need a /dev/shm
/// larger than the runtime's 64 MiB; a sidecar shares it for IPC.
pub fn mount_shm(job: &mut JobSpec) {
    if !job.shm {
        return;
    }
    let mut mount = Node::map();
    mount.set("name", Node::string("shm"));
    mount.set("mountPath", Node::string("/dev/shm"));
    job.container.push("volumeMounts", mount.clone());
    for sidecar in &mut job.sidecars {
        sidecar.push("volumeMounts", mount.clone());
    }
}

fn pod_template(job: &JobSpec, target: &Target<'_>, defaults: &Defaults) -> Node {
    let mut metadata = Node::map();
    let mut labels = Node::map();
    merge_into(&mut labels, &defaults.labels);
    // The wrapper's labels (kustomize commonLabels among them) reach the pods too.
    merge_into(&mut labels, target.labels);
    merge_into(&mut labels, &job.pod_labels);
    standard_labels(&mut labels, target.name);
    metadata.set("labels", labels);
    if !job.pod_annotations.is_empty() {
        let mut annotations = Node::map();
        merge_into(&mut annotations, &job.pod_annotations);
        metadata.set("annotations", annotations);
    }

    let mut pod = Node::map();
    pod.set(
        "restartPolicy",
        Node::string(job.restart_policy.as_deref().unwrap_or("Never")),
    );
    for (field, value) in &job.pod_fields {
        pod.set(field, value.clone());
    }
    if pod.get("serviceAccountName").is_none()
        && let Some(sa) = &defaults.service_account_name
    {
        pod.set("serviceAccountName", Node::string(sa));
    }
    let with_defaults = |container: &Node| {
        let mut container = container.clone();
        if container.get("imagePullPolicy").is_none()
            && let Some(policy) = &defaults.image_pull_policy
        {
            container.set("imagePullPolicy", Node::string(policy));
        }
        container
    };
    if !job.init_containers.is_empty() {
        pod.set(
            "initContainers",
            Node::seq(job.init_containers.iter().map(with_defaults).collect()),
        );
    }
    let main = with_defaults(&job.container);
    let mut volumes = job.volumes.clone();
    if job.shm {
        // Mounted by `mount_shm`.
        let mut volume = Node::map();
        volume.set("name", Node::string("shm"));
        let mut empty_dir = Node::map();
        empty_dir.set("medium", Node::string("Memory"));
        volume.set("emptyDir", empty_dir);
        volumes.push(volume);
    }
    let mut containers = vec![main];
    containers.extend(job.sidecars.iter().map(with_defaults));
    pod.set("containers", Node::seq(containers));
    if !volumes.is_empty() {
        pod.set("volumes", Node::seq(volumes));
    }

    let mut template = Node::map();
    template.set("metadata", metadata);
    template.set("spec", pod);
    template
}

/// Checks what we wrote against k8s-openapi's `Job` (which ignores fields it
/// does not know, so the user's newer fields still pass).
pub fn check(object: &Node) -> Result<(), String> {
    let json = crate::yaml::to_json(object);
    let result = if object.get("kind").and_then(Node::as_str) == Some("CronJob") {
        serde_json::from_value::<k8s_openapi::api::batch::v1::CronJob>(json).map(|_| ())
    } else {
        serde_json::from_value::<k8s_openapi::api::batch::v1::Job>(json).map(|_| ())
    };
    result.map_err(|e| e.to_string())
}
