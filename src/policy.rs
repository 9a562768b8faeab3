//! What operations may reference, per namespace: Secret, ConfigMap and PVC
//! names (globs), connection kinds, and whether hostPath volumes are allowed.
//! Checked on the finished pod spec, so it covers every reference the
//! workload carries: the user's own env/envFrom/volumes as well as what
//! connections added.
//!
//! ```yaml
//! policy:
//!   allowHostPath: false          # the default
//!   namespaces:                   # keyed by namespace glob; "" = no namespace
//!     "team-a-*":
//!       secrets: ["team-a-*"]
//!       configMaps: ["*"]
//!       persistentVolumeClaims: ["team-a-data"]
//!       connectionKinds: [s3, custom]
//!   default:                      # namespaces no key matches
//!     secrets: []
//! ```
//! A list that is absent allows anything; an empty list allows nothing.

use crate::convert::diag::child;
use crate::glob;
use crate::results::{Finding, unknown_field};
use crate::yaml::{Node, Resolved};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    pub allow_host_path: bool,
    pub namespaces: Vec<(String, Rule)>,
    pub default: Option<Rule>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rule {
    pub secrets: Option<Vec<String>>,
    pub config_maps: Option<Vec<String>>,
    pub claims: Option<Vec<String>>,
    pub connection_kinds: Option<Vec<String>>,
    pub allow_host_path: Option<bool>,
}

const POLICY_FIELDS: &[&str] = &["allowHostPath", "namespaces", "default"];
const RULE_FIELDS: &[&str] = &[
    "secrets",
    "configMaps",
    "persistentVolumeClaims",
    "connectionKinds",
    "allowHostPath",
];

pub fn load(node: &Node, path: &str) -> (Policy, Vec<Finding>) {
    let mut findings = Vec::new();
    let mut policy = Policy::default();
    let Some(entries) = node.as_map() else {
        findings.push(Finding::error("policy must be a mapping").at(path));
        return (policy, findings);
    };
    for (k, v) in entries {
        let key = k.scalar_text().unwrap_or_default();
        let at = child(path, key);
        match key {
            "allowHostPath" => {
                policy.allow_host_path = boolean(v, &at, &mut findings).unwrap_or(false)
            }
            "namespaces" => match v.as_map() {
                Some(rules) => {
                    for (glob, rule) in rules {
                        let glob = glob.scalar_text().unwrap_or_default().to_string();
                        let rule = load_rule(rule, &child(&at, &glob), &mut findings);
                        policy.namespaces.push((glob, rule));
                    }
                }
                None => findings
                    .push(Finding::error("namespaces must map namespace globs to rules").at(at)),
            },
            "default" => policy.default = Some(load_rule(v, &at, &mut findings)),
            other => findings.push(unknown_field(other, POLICY_FIELDS, "policy", &at)),
        }
    }
    (policy, findings)
}

fn boolean(node: &Node, at: &str, findings: &mut Vec<Finding>) -> Option<bool> {
    match node.resolve() {
        Some(Resolved::Bool(b)) => Some(b),
        // kpt's ConfigMap function configs carry strings.
        Some(Resolved::Str("true")) => Some(true),
        Some(Resolved::Str("false")) => Some(false),
        _ => {
            findings.push(Finding::error("expected true or false").at(at));
            None
        }
    }
}

fn load_rule(node: &Node, path: &str, findings: &mut Vec<Finding>) -> Rule {
    let mut rule = Rule::default();
    let Some(entries) = node.as_map() else {
        findings.push(Finding::error("a policy rule must be a mapping").at(path));
        return rule;
    };
    for (k, v) in entries {
        let key = k.scalar_text().unwrap_or_default();
        let at = child(path, key);
        let list = || -> Option<Vec<String>> {
            v.as_seq()?
                .iter()
                .map(|n| n.scalar_text().map(str::to_string))
                .collect()
        };
        match key {
            "allowHostPath" => rule.allow_host_path = boolean(v, &at, findings),
            "secrets" | "configMaps" | "persistentVolumeClaims" | "connectionKinds" => match list()
            {
                Some(globs) => {
                    if key == "connectionKinds"
                        && let Some(bad) = globs.iter().find(|g| {
                            !crate::catalog::KINDS.contains(&g.as_str()) && !g.contains('*')
                        })
                    {
                        findings.push(
                            Finding::error(format!("unknown connection kind \"{bad}\""))
                                .at(at.clone()),
                        );
                    }
                    let slot = match key {
                        "secrets" => &mut rule.secrets,
                        "configMaps" => &mut rule.config_maps,
                        "persistentVolumeClaims" => &mut rule.claims,
                        _ => &mut rule.connection_kinds,
                    };
                    *slot = Some(globs);
                }
                None => findings
                    .push(Finding::error(format!("{key} must be a list of names or globs")).at(at)),
            },
            other => findings.push(unknown_field(other, RULE_FIELDS, "a policy rule", &at)),
        }
    }
    rule
}

impl Policy {
    /// The rule for a namespace: an exact key, else the first glob that
    /// matches, else `default`.
    fn rule_for(&self, namespace: &str) -> Option<(&str, &Rule)> {
        self.namespaces
            .iter()
            .find(|(g, _)| g == namespace)
            .or_else(|| {
                self.namespaces
                    .iter()
                    .find(|(g, _)| !g.is_empty() && glob::matches(g, namespace))
            })
            .map(|(g, r)| (g.as_str(), r))
            .or_else(|| self.default.as_ref().map(|r| ("default", r)))
    }
}

/// Checks the references of a finished pod spec.
pub fn check(
    policy: &Policy,
    namespace: Option<&str>,
    pod: &Node,
    connection_kinds: &[(String, String)],
) -> Vec<Violation> {
    let namespace = namespace.unwrap_or_default();
    let shown = if namespace.is_empty() {
        "(none)"
    } else {
        namespace
    };
    let mut violations = Vec::new();
    let rule = policy.rule_for(namespace);
    let refs = references(pod);
    let allow_host_path = rule
        .and_then(|(_, r)| r.allow_host_path)
        .unwrap_or(policy.allow_host_path);
    for r in &refs {
        if r.kind == RefKind::HostPath && !allow_host_path {
            violations.push(Violation {
                connection: None,
                at: Some(r.at.clone()),
                message: format!(
                    "mounts the node path {}: hostPath volumes are not allowed by the policy (set policy.allowHostPath: true to allow)",
                    r.name
                ),
            });
        }
    }
    let Some((key, rule)) = rule else {
        if !policy.namespaces.is_empty() || policy.default.is_some() {
            violations.push(Violation {
                connection: None,
                at: None,
                message: format!(
                    "no policy rule covers namespace {shown} (no key of policy.namespaces matches and there is no policy.default)"
                ),
            });
        }
        return violations;
    };
    for r in &refs {
        let (allowed, what) = match r.kind {
            RefKind::Secret => (&rule.secrets, "Secret"),
            RefKind::ConfigMap => (&rule.config_maps, "ConfigMap"),
            RefKind::Claim => (&rule.claims, "PersistentVolumeClaim"),
            RefKind::HostPath => continue,
        };
        if let Some(globs) = allowed
            && !globs.iter().any(|g| glob::matches(g, &r.name))
        {
            violations.push(Violation {
                connection: None,
                at: Some(r.at.clone()),
                message: format!(
                    "references {what} \"{}\", which the policy for namespace {shown} (rule \"{key}\") does not allow",
                    r.name
                ),
            });
        }
    }
    if let Some(kinds) = &rule.connection_kinds {
        for (name, kind) in connection_kinds {
            if !kinds.iter().any(|g| glob::matches(g, kind)) {
                violations.push(Violation {
                    connection: Some(name.clone()),
                    at: None,
                    message: format!(
                        "connection \"{name}\" is of kind {kind}, which the policy for namespace {shown} (rule \"{key}\") does not allow"
                    ),
                });
            }
        }
    }
    violations
}

#[derive(Debug, PartialEq, Eq)]
enum RefKind {
    Secret,
    ConfigMap,
    Claim,
    HostPath,
}

struct Reference {
    kind: RefKind,
    name: String,
    at: Location,
}

/// Where a reference sits in the pod spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// `containers`/`initContainers` and the container's index, if any.
    pub container: Option<(&'static str, usize)>,
    /// `env`, `envFrom`, `volumes` or `imagePullSecrets`.
    pub field: &'static str,
    pub index: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some((list, i)) = self.container {
            write!(f, "{list}[{i}].")?;
        }
        write!(f, "{}[{}]", self.field, self.index)
    }
}

/// A policy violation and where the pod spec carries it (None: the pod as a whole).
#[derive(Debug)]
pub struct Violation {
    pub at: Option<Location>,
    /// The connection at fault, for kind violations.
    pub connection: Option<String>,
    pub message: String,
}

/// Secret, ConfigMap and PVC names anywhere inside a volume source.
fn volume_references(node: &Node, parent: Option<&str>, out: &mut Vec<(RefKind, String)>) {
    match &node.value {
        crate::yaml::Value::Map(entries, _) => {
            let name = node.get("name").and_then(Node::scalar_text);
            match parent {
                Some("secret" | "secretRef") => {
                    if let Some(n) = name {
                        out.push((RefKind::Secret, n.to_string()));
                    }
                }
                Some(p) if p.ends_with("SecretRef") => {
                    if let Some(n) = name {
                        out.push((RefKind::Secret, n.to_string()));
                    }
                }
                Some("configMap" | "configMapRef") => {
                    if let Some(n) = name {
                        out.push((RefKind::ConfigMap, n.to_string()));
                    }
                }
                Some("dataSource" | "dataSourceRef")
                    if node.get("kind").and_then(Node::scalar_text)
                        == Some("PersistentVolumeClaim") =>
                {
                    if let Some(n) = name {
                        out.push((RefKind::Claim, n.to_string()));
                    }
                }
                _ => {}
            }
            for (k, v) in entries {
                let key = k.scalar_text().unwrap_or_default();
                match (key, v.scalar_text()) {
                    ("secretName", Some(n)) => out.push((RefKind::Secret, n.to_string())),
                    ("claimName", Some(n)) => out.push((RefKind::Claim, n.to_string())),
                    _ => volume_references(v, Some(key), out),
                }
            }
        }
        crate::yaml::Value::Seq(items, _) => {
            for item in items {
                volume_references(item, parent, out);
            }
        }
        crate::yaml::Value::Scalar(_) => {}
    }
}

fn references(pod: &Node) -> Vec<Reference> {
    let mut refs = Vec::new();
    let mut push = |kind, name: Option<&Node>, at: &Location| {
        if let Some(name) = name.and_then(Node::scalar_text) {
            refs.push(Reference {
                kind,
                name: name.to_string(),
                at: at.clone(),
            });
        }
    };
    for list in ["initContainers", "containers"] {
        for (i, c) in pod.items(list).enumerate() {
            for (j, e) in c.items("env").enumerate() {
                let at = Location {
                    container: Some((list, i)),
                    field: "env",
                    index: j,
                };
                push(
                    RefKind::Secret,
                    e.get_path(&["valueFrom", "secretKeyRef", "name"]),
                    &at,
                );
                push(
                    RefKind::ConfigMap,
                    e.get_path(&["valueFrom", "configMapKeyRef", "name"]),
                    &at,
                );
            }
            for (j, e) in c.items("envFrom").enumerate() {
                let at = Location {
                    container: Some((list, i)),
                    field: "envFrom",
                    index: j,
                };
                push(RefKind::Secret, e.get_path(&["secretRef", "name"]), &at);
                push(
                    RefKind::ConfigMap,
                    e.get_path(&["configMapRef", "name"]),
                    &at,
                );
            }
        }
    }
    for (i, v) in pod.items("volumes").enumerate() {
        let at = Location {
            container: None,
            field: "volumes",
            index: i,
        };
        push(RefKind::HostPath, v.get_path(&["hostPath", "path"]), &at);
        // Every volume source that names a Secret, ConfigMap or PVC, known
        // today or added later: csi.nodePublishSecretRef, azureFile.secretName,
        // cephfs.secretRef, ephemeral … dataSource, projected sources, …
        let mut found = Vec::new();
        volume_references(v, None, &mut found);
        for (kind, name) in found {
            push(kind, Some(&Node::string(name)), &at);
        }
    }
    for (i, s) in pod.items("imagePullSecrets").enumerate() {
        let at = Location {
            container: None,
            field: "imagePullSecrets",
            index: i,
        };
        push(RefKind::Secret, s.get("name"), &at);
    }
    refs
}
