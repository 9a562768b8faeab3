//! Checks the API server would make, made here first with a field path.

use super::diag::{Diag, child, index};
use super::polyaxon::JobSpec;
use crate::yaml::Node;

/// RFC 1123 label: Container, Volume and Namespace names.
pub fn dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 63 {
        return Err(format!(
            "must be at most 63 characters (has {})",
            name.len()
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("must consist of lower case letters, digits and '-'".into());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must start and end with a letter or digit".into());
    }
    Ok(())
}

/// RFC 1123 subdomain: Secret, ConfigMap, ServiceAccount, PVC names.
pub fn dns_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 253 {
        return Err(format!(
            "must be at most 253 characters (has {})",
            name.len()
        ));
    }
    for part in name.split('.') {
        if part.is_empty()
            || !part
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            || part.starts_with('-')
            || part.ends_with('-')
        {
            return Err(
                "must consist of lower case letters, digits, '-' and '.', and start and end with a letter or digit"
                    .into(),
            );
        }
    }
    Ok(())
}

/// Secret and ConfigMap keys: alphanumerics, `-`, `_`, `.`.
pub fn config_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > 253 {
        return Err("must be 1 to 253 characters".into());
    }
    if key == "." || key == ".." || key.starts_with("..") {
        return Err("must not be '.' or start with '..'".into());
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'".into(),
        );
    }
    Ok(())
}

/// A file mode (`defaultMode`, `mode`): 0 to 0777, decimal or octal.
pub fn file_mode(text: &str) -> Option<i64> {
    crate::yaml::int_value(text).filter(|m| (0..=0o777).contains(m))
}

fn label_value(value: &str) -> Result<(), String> {
    if value.len() > 63 {
        return Err("a label value must be at most 63 characters".into());
    }
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    let bytes = value.as_bytes();
    if !bytes.iter().all(|b| ok_char(*b))
        || bytes.first().is_some_and(|b| !b.is_ascii_alphanumeric())
        || bytes.last().is_some_and(|b| !b.is_ascii_alphanumeric())
    {
        return Err("a label value must be alphanumerics, '-', '_' or '.', starting and ending with an alphanumeric".into());
    }
    Ok(())
}

pub fn labels(entries: &[(Node, Node)], path: &str, diag: &mut Diag) {
    for (k, v) in entries {
        let key = k.scalar_text().unwrap_or_default();
        if let Some(value) = v.scalar_text()
            && let Err(e) = label_value(value)
        {
            diag.error(child(path, key), format!("\"{value}\": {e}"));
        }
    }
}

/// Environment variable names: Kubernetes ≥ 1.34 accepts any printable ASCII
/// but `=`; older clusters want a C identifier.
fn env_name(name: &str, path: &str, diag: &mut Diag) {
    if name.is_empty() || name.contains('=') || !name.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        diag.error(
            path,
            format!(
                "\"{name}\" is not a valid environment variable name (printable ASCII without '=')"
            ),
        );
    } else if name.starts_with(|c: char| c.is_ascii_digit())
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        diag.warning(
            path,
            format!("\"{name}\" is not a C identifier: clusters before Kubernetes 1.34 reject it (RelaxedEnvironmentVariableValidation)"),
        );
    }
}

fn reference_name(node: Option<&Node>, what: &str, path: &str, diag: &mut Diag) {
    if let Some(name) = node.and_then(Node::as_str)
        && let Err(e) = dns_subdomain(name)
    {
        diag.error(path, format!("\"{name}\" is not a valid {what} name: {e}"));
    }
}

/// Names and references across the pod: container names, volume names,
/// mounts that point at declared volumes, absolute mount paths, the names of
/// referenced Secrets and ConfigMaps, keys and item paths.
pub fn pod_references(job: &JobSpec, diag: &mut Diag) {
    let run_path = job.run_path.as_str();
    let volumes_path = child(run_path, "volumes");
    let mut volume_names: Vec<&str> = Vec::new();
    for (i, volume) in job.volumes.iter().enumerate() {
        let at = index(&volumes_path, i);
        match volume.get("name").and_then(Node::as_str) {
            Some(name) => {
                if let Err(e) = dns_label(name) {
                    diag.error(child(&at, "name"), format!("volume name \"{name}\" {e}"));
                }
                if volume_names.contains(&name) {
                    diag.error(
                        child(&at, "name"),
                        format!("two volumes are named \"{name}\""),
                    );
                }
                volume_names.push(name);
            }
            None => diag.error(&at, "a volume needs a name"),
        }
        check_volume_source(volume, &at, diag);
    }
    if job.shm {
        if volume_names.contains(&"shm") {
            diag.error(
                &volumes_path,
                "a volume is named \"shm\", the name plugins.shm uses for /dev/shm; rename it",
            );
        }
        volume_names.push("shm");
    }
    let mut containers: Vec<(String, &Node)> = vec![(child(run_path, "container"), &job.container)];
    containers.extend(
        job.sidecars
            .iter()
            .enumerate()
            .map(|(i, c)| (index(&child(run_path, "sidecars"), i), c)),
    );
    containers.extend(
        job.init_paths
            .iter()
            .cloned()
            .zip(job.init_containers.iter()),
    );
    let mut container_names: Vec<&str> = Vec::new();
    for (path, container) in &containers {
        if let Some(name) = container.get("name").and_then(Node::as_str) {
            if let Err(e) = dns_label(name) {
                diag.error(
                    child(path, "name"),
                    format!("container name \"{name}\" {e}"),
                );
            } else if container_names.contains(&name) {
                diag.error(
                    child(path, "name"),
                    format!("two containers are named \"{name}\""),
                );
            }
            container_names.push(name);
        }
        if container.get("image").is_none_or(Node::is_null) {
            // Polyaxon accepts it; the API server answers "image: Required value".
            diag.error(path, "a container needs an image");
        }
        check_container(container, path, &job.volumes, &volume_names, diag);
    }
}

fn check_volume_source(volume: &Node, at: &str, diag: &mut Diag) {
    reference_name(
        volume.get_path(&["secret", "secretName"]),
        "Secret",
        &child(at, "secret.secretName"),
        diag,
    );
    reference_name(
        volume.get_path(&["configMap", "name"]),
        "ConfigMap",
        &child(at, "configMap.name"),
        diag,
    );
    reference_name(
        volume.get_path(&["persistentVolumeClaim", "claimName"]),
        "PersistentVolumeClaim",
        &child(at, "persistentVolumeClaim.claimName"),
        diag,
    );
    for source in ["secret", "configMap"] {
        key_to_paths(
            volume.get_path(&[source, "items"]),
            &child(&child(at, source), "items"),
            diag,
        );
    }
    for (j, projection) in volume
        .get_path(&["projected", "sources"])
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let p = index(&child(at, "projected.sources"), j);
        reference_name(
            projection.get_path(&["secret", "name"]),
            "Secret",
            &child(&p, "secret.name"),
            diag,
        );
        reference_name(
            projection.get_path(&["configMap", "name"]),
            "ConfigMap",
            &child(&p, "configMap.name"),
            diag,
        );
        for source in ["secret", "configMap"] {
            key_to_paths(
                projection.get_path(&[source, "items"]),
                &child(&child(&p, source), "items"),
                diag,
            );
        }
    }
}

/// Secret/ConfigMap `items`: valid keys, relative paths without `..`.
fn key_to_paths(items: Option<&Node>, path: &str, diag: &mut Diag) {
    for (i, item) in items
        .and_then(Node::as_seq)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = index(path, i);
        if let Some(key) = item.get("key").and_then(Node::scalar_text)
            && let Err(e) = config_key(key)
        {
            diag.error(
                child(&at, "key"),
                format!("\"{key}\" is not a valid key: {e}"),
            );
        }
        if let Some(p) = item.get("path").and_then(Node::scalar_text)
            && (p.is_empty() || p.starts_with('/') || p.split('/').any(|s| s == ".."))
        {
            diag.error(
                child(&at, "path"),
                format!("path \"{p}\" must be relative and must not contain '..'"),
            );
        }
    }
}

/// Volume sources the kubelet always mounts read-only.
fn read_only_source(volume: &Node) -> Option<&'static str> {
    ["secret", "configMap", "projected", "downwardAPI"]
        .into_iter()
        .find(|k| volume.get(k).is_some())
}

fn check_container(
    container: &Node,
    path: &str,
    volumes: &[Node],
    volume_names: &[&str],
    diag: &mut Diag,
) {
    let mounts_path = child(path, "volumeMounts");
    let mut mount_paths: Vec<&str> = Vec::new();
    for (i, mount) in container.items("volumeMounts").enumerate() {
        let at = index(&mounts_path, i);
        if let Some(name) = mount.get("name").and_then(Node::as_str)
            && !volume_names.contains(&name)
        {
            let known = if volume_names.is_empty() {
                "none is declared".to_string()
            } else {
                format!("declared: {}", volume_names.join(", "))
            };
            diag.error(
                child(&at, "name"),
                format!("no volume named \"{name}\" in run.volumes ({known})"),
            );
        }
        if let Some(mount_path) = mount.get("mountPath").and_then(Node::as_str) {
            if !mount_path.starts_with('/') {
                diag.error(
                    child(&at, "mountPath"),
                    format!("mountPath \"{mount_path}\" must be an absolute path"),
                );
            } else if mount_paths.contains(&mount_path) {
                diag.error(
                    child(&at, "mountPath"),
                    format!("two volumes are mounted at \"{mount_path}\""),
                );
            }
            mount_paths.push(mount_path);
        }
        let volume = mount.get("name").and_then(Node::as_str).and_then(|n| {
            volumes
                .iter()
                .find(|v| v.get("name").and_then(Node::as_str) == Some(n))
        });
        if let Some(sub) = mount.get("subPath").and_then(Node::as_str) {
            if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                diag.error(
                    child(&at, "subPath"),
                    format!("subPath \"{sub}\" must be relative and must not contain '..'"),
                );
            } else if let Some(kind) =
                volume.and_then(|v| ["secret"].into_iter().find(|k| v.get(k).is_some()))
            {
                diag.info(
                    child(&at, "subPath"),
                    format!("volumeMounts[{i}] mounts a {kind} with subPath; the file will not be updated if the {kind} changes"),
                );
            }
        }
        if mount.get("readOnly").and_then(Node::resolve) == Some(crate::yaml::Resolved::Bool(false))
            && let Some(kind) = volume.and_then(read_only_source)
        {
            diag.warning(
                child(&at, "readOnly"),
                format!("{kind} volumes are always mounted read-only by the kubelet; readOnly: false has no effect"),
            );
        }
    }
    let env_path = child(path, "env");
    for (i, env) in container.items("env").enumerate() {
        let at = index(&env_path, i);
        match env.get("name").and_then(Node::scalar_text) {
            Some(name) => env_name(name, &child(&at, "name"), diag),
            None => diag.error(&at, "an env entry needs a name"),
        }
        reference_name(
            env.get_path(&["valueFrom", "secretKeyRef", "name"]),
            "Secret",
            &child(&at, "valueFrom.secretKeyRef.name"),
            diag,
        );
        reference_name(
            env.get_path(&["valueFrom", "configMapKeyRef", "name"]),
            "ConfigMap",
            &child(&at, "valueFrom.configMapKeyRef.name"),
            diag,
        );
        for selector in ["secretKeyRef", "configMapKeyRef"] {
            if let Some(key) = env
                .get_path(&["valueFrom", selector, "key"])
                .and_then(Node::scalar_text)
                && let Err(e) = config_key(key)
            {
                diag.error(
                    child(&at, &format!("valueFrom.{selector}.key")),
                    format!("\"{key}\" is not a valid key: {e}"),
                );
            }
        }
    }
    let from_path = child(path, "envFrom");
    for (i, from) in container.items("envFrom").enumerate() {
        let at = index(&from_path, i);
        let secret = from.get("secretRef").filter(|n| !n.is_null());
        let config_map = from.get("configMapRef").filter(|n| !n.is_null());
        match (secret, config_map) {
            (Some(_), Some(_)) => diag.error(
                &at,
                "envFrom entry has both secretRef and configMapRef; use one per entry",
            ),
            (None, None)
                if !diag
                    .findings
                    .iter()
                    .any(|f| f.field.as_deref() == Some(at.as_str())) =>
            {
                diag.error(&at, "envFrom entry needs secretRef or configMapRef");
            }
            _ => {}
        }
        reference_name(
            secret.and_then(|s| s.get("name")),
            "Secret",
            &child(&at, "secretRef.name"),
            diag,
        );
        reference_name(
            config_map.and_then(|s| s.get("name")),
            "ConfigMap",
            &child(&at, "configMapRef.name"),
            diag,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(dns_label("main").is_ok());
        assert!(dns_label("my_ssh_secret").is_err());
        assert!(dns_subdomain("new_sa").is_err());
        assert!(dns_subdomain("a.b-c").is_ok());
        assert!(dns_subdomain("").is_err());
    }
}
