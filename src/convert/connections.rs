//! Connections → env, envFrom, volumes and mounts, as Polyaxon 2.18 resolves
//! them (polyaxon-mapping.md §3, §4, §7), without its bugs (§12): `env` in
//! every form becomes proper entries, mounted `items` become key/path items,
//! a mounted ConfigMap gives no env, and an explicit container env wins over
//! a connection's variable with a warning.

use std::collections::BTreeSet;

use super::diag::{Diag, child};
use super::polyaxon::JobSpec;
use super::validate;
use crate::catalog::{Connection, Resource, Schema};
use crate::config::Config;
use crate::yaml::Node;

/// What connections added to a pod, for the policy check.
#[derive(Debug, Default)]
pub struct Applied {
    /// (connection name, kind) of every connection the pod uses.
    pub kinds: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Source {
    Claim,
    HostPath,
    Secret,
    ConfigMap,
}

impl Source {
    fn word(self) -> &'static str {
        match self {
            Source::Claim => "pvc",
            Source::HostPath => "hostpath",
            Source::Secret => "secret",
            Source::ConfigMap => "configmap",
        }
    }
}

/// Generated pod volumes, one per source, with stable valid names.
#[derive(Default)]
struct Volumes {
    taken: BTreeSet<String>,
    /// (source kind, source name, volume name, volume node)
    made: Vec<(Source, String, String, Node)>,
}

impl Volumes {
    fn name_for(&mut self, source: Source, base: &str, make: impl FnOnce(&str) -> Node) -> String {
        if let Some((_, _, name, _)) = self
            .made
            .iter()
            .find(|(s, b, _, _)| *s == source && b == base)
        {
            return name.clone();
        }
        // Polyaxon's name (the connection's or the resource's) when it is a
        // valid, free label; otherwise a readable stem plus a stable hash.
        let mut name = base.to_string();
        if validate::dns_label(&name).is_err() || self.taken.contains(&name) {
            let stem: String = base
                .to_ascii_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            let stem = stem.trim_matches('-');
            let stem: String = stem.chars().take(40).collect();
            let stem = stem.trim_end_matches('-');
            let hash = fnv1a(&format!("{}:{base}", source.word()));
            name = if stem.is_empty() {
                format!("{}-{hash:08x}", source.word())
            } else {
                format!("{stem}-{}-{hash:08x}", source.word())
            };
            let mut n = 2;
            while self.taken.contains(&name) {
                name = format!("{stem}-{}-{hash:08x}-{n}", source.word());
                n += 1;
            }
        }
        self.taken.insert(name.clone());
        let node = make(&name);
        self.made
            .push((source, base.to_string(), name.clone(), node));
        name
    }
}

/// Store kinds, whose init handler downloads data (not supported yet).
fn init_is_store(connection: &Connection) -> bool {
    matches!(
        connection.kind.as_str(),
        "s3" | "gcs" | "wasb" | "volume_claim" | "host_path" | "git"
    )
}

/// FNV-1a: small, stable across platforms and releases (names must not change).
fn fnv1a(text: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for b in text.bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

fn named(name: &str) -> Node {
    let mut node = Node::map();
    node.set("name", Node::string(name));
    node
}

/// Looks up every connection the job names and wires it in.
pub fn apply(job: &mut JobSpec, config: &Config, diag: &mut Diag) -> Applied {
    let mut applied = Applied::default();
    let lookup = |name: &str, at: &str, diag: &mut Diag| -> Option<Connection> {
        if let Some(c) = config.connections.iter().find(|c| c.name == name) {
            return Some(c.clone());
        }
        let message = crate::catalog::missing_message(
            name,
            &config.connections,
            &config.invalid_connections,
            config.catalog_unreadable,
        );
        diag.error(at, message);
        None
    };
    let main_connections: Vec<Connection> = job
        .connection_refs
        .clone()
        .iter()
        .filter_map(|(name, at)| lookup(name, at, diag))
        .collect();
    let init_connections: Vec<Option<Connection>> = job
        .init_connections
        .clone()
        .iter()
        .zip(job.init_from_handler.clone())
        .map(|(c, from_handler)| c.as_ref().and_then(|(name, at)| {
            let connection = lookup(name, at, diag)?;
            // A git clone uses its git or ssh connection; an author's container
            // tied to a store connection would be a store download.
            let allowed = if from_handler {
                matches!(connection.kind.as_str(), "git" | "ssh") || !init_is_store(&connection)
            } else {
                !init_is_store(&connection)
            };
            if !allowed {
                diag.error(
                    at,
                    format!(
                        "an init container tied to a {} connection is an init handler (a store download), which is not supported yet",
                        connection.kind
                    ),
                );
                return None;
            }
            Some(connection)
        }))
        .collect();

    let requested: Vec<(&Connection, &Resource, Source)> = config
        .connections
        .iter()
        .flat_map(|c| {
            [
                c.secret.as_ref().map(|r| (c, r, Source::Secret)),
                c.config_map.as_ref().map(|r| (c, r, Source::ConfigMap)),
            ]
        })
        .flatten()
        .filter(|(_, r, _)| r.is_requested)
        .collect();

    let mut volumes = Volumes::default();
    volumes.taken.extend(
        job.volumes
            .iter()
            .filter_map(|v| v.get("name").and_then(Node::as_str).map(str::to_string)),
    );
    if job.shm {
        volumes.taken.insert("shm".into());
    }

    let run_path = job.run_path.clone();
    let container_path = child(&run_path, "container");
    let param_env = job.param_env.clone();
    wire(
        &mut job.container,
        &container_path,
        &main_connections,
        &requested,
        &param_env,
        &mut volumes,
        diag,
    );
    for (i, sidecar) in job.sidecars.iter_mut().enumerate() {
        let at = format!("{}[{i}]", child(&run_path, "sidecars"));
        wire(
            sidecar,
            &at,
            &main_connections,
            &requested,
            &param_env,
            &mut volumes,
            diag,
        );
    }
    for ((container, connection), at) in job
        .init_containers
        .iter_mut()
        .zip(init_connections.iter())
        .zip(job.init_paths.iter())
    {
        if let Some(connection) = connection {
            wire(
                container,
                at,
                std::slice::from_ref(connection),
                &[],
                &[],
                &mut volumes,
                diag,
            );
        }
    }

    // Pod annotations from every connection used; the author's own win.
    let mut used: Vec<&Connection> = main_connections.iter().collect();
    used.extend(init_connections.iter().flatten());
    used.extend(requested.iter().map(|(c, _, _)| *c));
    let mut seen = BTreeSet::new();
    for connection in used {
        if !seen.insert(connection.name.clone()) {
            continue;
        }
        applied
            .kinds
            .push((connection.name.clone(), connection.kind.clone()));
        for (k, v) in &connection.annotations {
            let key = k.scalar_text().unwrap_or_default();
            match job.pod_annotations.iter().find(|(pk, _)| pk.scalar_text() == Some(key)) {
                Some((_, existing)) if existing.scalar_text() != v.scalar_text() => diag.warning(
                    child(&run_path, "environment.annotations"),
                    format!("annotation \"{key}\" of connection \"{}\" is overridden by environment.annotations", connection.name),
                ),
                Some(_) => {}
                None => job.pod_annotations.push((k.clone(), v.clone())),
            }
        }
    }
    // Polyaxon's pod volume order (`get_pod_volumes`): connection volumes
    // (PVC, hostPath), then Secrets, then ConfigMaps.
    let mut made = volumes.made;
    made.sort_by_key(|(source, ..)| match source {
        Source::Claim | Source::HostPath => 0,
        Source::Secret => 1,
        Source::ConfigMap => 2,
    });
    job.volumes
        .extend(made.into_iter().map(|(_, _, _, node)| node));
    applied
}

fn key_ref(selector: &str, resource: &str, key: &str) -> Node {
    let mut sel = Node::map();
    sel.set("name", Node::string(resource));
    sel.set("key", Node::string(key));
    let mut from = Node::map();
    from.set(selector, sel);
    let mut env = named(key);
    env.set("valueFrom", from);
    env
}

fn resource_volume(source: Source, resource: &Resource, name: &str) -> Node {
    let mut body = Node::map();
    match source {
        Source::Secret => body.set("secretName", Node::string(&resource.name)),
        _ => body.set("name", Node::string(&resource.name)),
    }
    if let Some(items) = &resource.items {
        body.set(
            "items",
            Node::seq(
                items
                    .iter()
                    .map(|k| {
                        let mut item = Node::map();
                        item.set("key", Node::string(k));
                        item.set("path", Node::string(k));
                        item
                    })
                    .collect(),
            ),
        );
    }
    if let Some(mode) = resource.default_mode {
        body.set("defaultMode", Node::int(mode));
    }
    let mut volume = named(name);
    volume.set(
        if source == Source::Secret {
            "secret"
        } else {
            "configMap"
        },
        body,
    );
    volume
}

/// Adds one container's connection env, envFrom and mounts, in Polyaxon's order.
fn wire(
    container: &mut Node,
    path: &str,
    connections: &[Connection],
    requested: &[(&Connection, &Resource, Source)],
    param_env: &[(String, String)],
    volumes: &mut Volumes,
    diag: &mut Diag,
) {
    // Resources: the globally requested ones first, then each connection's;
    // one per Kubernetes object (first wins, as Polyaxon).
    let mut resources: Vec<(&Connection, &Resource, Source)> = requested.to_vec();
    for c in connections {
        resources.extend(c.secret.as_ref().map(|r| (c, r, Source::Secret)));
        resources.extend(c.config_map.as_ref().map(|r| (c, r, Source::ConfigMap)));
    }
    let mut unique: Vec<(&Connection, &Resource, Source)> = Vec::new();
    for (c, r, s) in resources {
        match unique
            .iter()
            .find(|(_, ur, us)| *us == s && ur.name == r.name)
        {
            Some((first, first_r, _))
                if first.name != c.name
                    && (first_r.mount_path != r.mount_path || first_r.items != r.items) =>
            {
                diag.warning(
                    path,
                    format!(
                        "{} \"{}\" of connection \"{}\" is already provided by connection \"{}\"; its form there is kept",
                        if s == Source::Secret { "Secret" } else { "ConfigMap" },
                        r.name,
                        c.name,
                        first.name
                    ),
                );
            }
            Some(_) => {}
            None => unique.push((c, r, s)),
        }
    }
    let mut secret_refs = Vec::new();
    let mut config_map_refs = Vec::new();
    let mut item_env: Vec<(Node, String)> = Vec::new();
    let mut mounts: Vec<(Node, String)> = Vec::new();

    for c in connections {
        let (source, mount_path, read_only, base) = match &c.schema {
            Schema::Claim {
                mount_path,
                read_only,
                claim,
            } => (Source::Claim, mount_path, *read_only, claim),
            Schema::HostPath {
                mount_path,
                read_only,
                host_path,
            } => (Source::HostPath, mount_path, *read_only, host_path),
            Schema::Other => continue,
        };
        let name = volumes.name_for(source, &c.name, |name| {
            let mut volume = named(name);
            match source {
                Source::Claim => {
                    let mut pvc = Node::map();
                    pvc.set("claimName", Node::string(base));
                    if let Some(ro) = read_only {
                        pvc.set("readOnly", Node::bool(ro));
                    }
                    volume.set("persistentVolumeClaim", pvc);
                }
                _ => {
                    let mut host = Node::map();
                    host.set("path", Node::string(base));
                    volume.set("hostPath", host);
                }
            }
            volume
        });
        let mut mount = named(&name);
        mount.set("mountPath", Node::string(mount_path));
        if let Some(ro) = read_only {
            mount.set("readOnly", Node::bool(ro));
        }
        mounts.push((mount, format!("connection \"{}\"", c.name)));
    }
    // Polyaxon (`_get_main_volume_mounts`, `_get_main_env_vars`): every
    // Secret's mount or items first, then every ConfigMap's.
    let secrets_first = unique
        .iter()
        .filter(|(_, _, s)| *s == Source::Secret)
        .chain(unique.iter().filter(|(_, _, s)| *s == Source::ConfigMap));
    for (c, r, s) in secrets_first {
        let what = if *s == Source::Secret {
            "secret"
        } else {
            "configMap"
        };
        let origin = format!("connection \"{}\" ({what} {})", c.name, r.name);
        if let Some(mount_path) = &r.mount_path {
            let name = volumes.name_for(*s, &r.name, |name| resource_volume(*s, r, name));
            let mut mount = named(&name);
            mount.set("mountPath", Node::string(mount_path));
            mount.set("readOnly", Node::bool(true));
            mounts.push((mount, origin));
        } else if let Some(items) = &r.items {
            let selector = if *s == Source::Secret {
                "secretKeyRef"
            } else {
                "configMapKeyRef"
            };
            item_env.extend(
                items
                    .iter()
                    .map(|k| (key_ref(selector, &r.name, k), origin.clone())),
            );
        } else {
            let mut reference = Node::map();
            reference.set(
                if *s == Source::Secret {
                    "secretRef"
                } else {
                    "configMapRef"
                },
                named(&r.name),
            );
            if *s == Source::Secret {
                secret_refs.push(reference);
            } else {
                config_map_refs.push(reference);
            }
        }
    }
    for reference in secret_refs.into_iter().chain(config_map_refs) {
        container.push("envFrom", reference);
    }

    // env: the author's first, then each connection's env, then items; the
    // first definition of a name wins and every dropped one is reported.
    let mut env_candidates: Vec<(Node, String)> = Vec::new();
    for c in connections {
        for (name, value) in &c.env {
            let mut entry = named(name);
            entry.set("value", Node::string(value));
            env_candidates.push((entry, format!("connection \"{}\" env", c.name)));
        }
    }
    // `toEnv` inputs and params come after connection env, as in Polyaxon.
    for (name, value) in param_env {
        let mut entry = named(name);
        entry.set("value", Node::string(value));
        env_candidates.push((entry, format!("the toEnv of \"{name}\"")));
    }
    env_candidates.extend(item_env);
    let existing = keyed_entries(container, "env", "name");
    let mut added: Vec<(String, String)> = Vec::new();
    for (entry, origin) in env_candidates {
        let name = entry
            .get("name")
            .and_then(Node::scalar_text)
            .unwrap_or_default()
            .to_string();
        if let Some((_, i)) = existing.iter().find(|(n, _)| *n == name) {
            diag.warning(
                format!("{path}.env[{i}]"),
                format!("env \"{name}\" from {origin} is overridden by {path}.env[{i}]"),
            );
        } else if let Some((_, first)) = added.iter().find(|(n, _)| *n == name) {
            diag.warning(
                path,
                format!("env \"{name}\" from {origin} is overridden by {first}"),
            );
        } else {
            added.push((name, origin));
            container.push("env", entry);
        }
    }

    // Mounts: a path used twice is an error naming both sources.
    let user_mounts = keyed_entries(container, "volumeMounts", "mountPath");
    let mut placed: Vec<(String, String)> = Vec::new();
    for (mount, origin) in mounts {
        let mount_path = mount
            .get("mountPath")
            .and_then(Node::scalar_text)
            .unwrap_or_default()
            .to_string();
        if let Some((_, i)) = user_mounts.iter().find(|(p, _)| *p == mount_path) {
            diag.error(
                format!("{path}.volumeMounts[{i}].mountPath"),
                format!(
                    "{mount_path} is mounted twice: by {path}.volumeMounts[{i}] and by {origin}"
                ),
            );
        } else if let Some((_, first)) = placed.iter().find(|(p, _)| *p == mount_path) {
            diag.error(
                path,
                format!("{mount_path} is mounted twice: by {first} and by {origin}"),
            );
        } else {
            placed.push((mount_path, origin));
            container.push("volumeMounts", mount);
        }
    }
}

/// The `key` of each entry of the container's `list`, with the entry's index.
fn keyed_entries(container: &Node, list: &str, key: &str) -> Vec<(String, usize)> {
    container
        .items(list)
        .enumerate()
        .filter_map(|(i, entry)| {
            entry
                .get(key)
                .and_then(Node::scalar_text)
                .map(|text| (text.to_string(), i))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_valid_and_distinct() {
        let mut v = Volumes::default();
        v.taken.insert("app-settings".into());
        let secret = v.name_for(Source::Secret, "app-settings", named);
        let config = v.name_for(Source::ConfigMap, "app-settings", named);
        let again = v.name_for(Source::Secret, "app-settings", named);
        assert_ne!(secret, config);
        assert_eq!(secret, again);
        assert!(validate::dns_label(&secret).is_ok() && validate::dns_label(&config).is_ok());
        let long = v.name_for(Source::Claim, &"Very_Long_Connection_Name".repeat(5), |n| {
            named(n)
        });
        assert!(validate::dns_label(&long).is_ok(), "{long}");
        assert_eq!(fnv1a("a"), 0xe40c_292c);
    }
}
