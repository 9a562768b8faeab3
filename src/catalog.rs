//! The connections catalog, in the Polyaxon agent's own format (what
//! `agent.connections` holds in the Helm values), validated with field paths.

use crate::convert::diag::{child, index};
use crate::convert::validate;
use crate::results::{Finding, check_fields, did_you_mean};
use crate::yaml::{Node, Resolved, Value};

/// vents `ProviderKind`, Polyaxon 2.18.
pub const KINDS: &[&str] = &[
    "host_path",
    "volume_claim",
    "gcs",
    "s3",
    "wasb",
    "registry",
    "git",
    "aws",
    "gcp",
    "azure",
    "mysql",
    "postgres",
    "oracle",
    "vertica",
    "sqlite",
    "mssql",
    "redis",
    "presto",
    "mongo",
    "cassandra",
    "ftp",
    "grpc",
    "hdfs",
    "http",
    "pig_cli",
    "hive_cli",
    "hive_metastore",
    "hive_server2",
    "jdbc",
    "jenkins",
    "samba",
    "snowflake",
    "ssh",
    "cloudant",
    "databricks",
    "segment",
    "slack",
    "teams",
    "email",
    "discord",
    "mattermost",
    "pagerduty",
    "hipchat",
    "webhook",
    "custom",
];

const CONNECTION_FIELDS: &[&str] = &[
    "name",
    "kind",
    "schema",
    "secret",
    "configMap",
    "env",
    "annotations",
    "description",
    "tags",
];
const RESOURCE_FIELDS: &[&str] = &["name", "mountPath", "items", "defaultMode", "isRequested"];

#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    pub name: String,
    pub kind: String,
    /// Where it sits in the config, for messages (`connections[2]`).
    pub path: String,
    pub schema: Schema,
    pub secret: Option<Resource>,
    pub config_map: Option<Resource>,
    /// `connection.env` in any of the three forms people paste, as name/value.
    pub env: Vec<(String, String)>,
    pub annotations: Vec<(Node, Node)>,
    /// The entry as written, for `connections['NAME']` template contexts.
    pub raw: Node,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Schema {
    /// `volume_claim`: a PVC mounted at `mount_path`.
    Claim {
        claim: String,
        mount_path: String,
        read_only: Option<bool>,
    },
    /// `host_path`: a node folder mounted at `mount_path`.
    HostPath {
        host_path: String,
        mount_path: String,
        read_only: Option<bool>,
    },
    /// Anything else (bucket, git, registry, free-form): no volume of its own.
    Other,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    pub name: String,
    pub mount_path: Option<String>,
    pub items: Option<Vec<String>>,
    pub default_mode: Option<i64>,
    pub is_requested: bool,
}

/// Why `name` cannot be resolved, the same words wherever it is named.
pub fn missing_message(
    name: &str,
    connections: &[Connection],
    invalid: &[String],
    unreadable: bool,
) -> String {
    if invalid.iter().any(|n| n == name) {
        format!(
            "connection \"{name}\" has an invalid catalog entry (see the function config's results)"
        )
    } else if unreadable {
        format!("connection \"{name}\" cannot be resolved: no valid connections catalog")
    } else if connections.is_empty() {
        format!(
            "connection \"{name}\" cannot be resolved: no catalog provided (give the function config a connections catalog; with render, --config FILE)"
        )
    } else {
        let known: Vec<&str> = connections.iter().map(|c| c.name.as_str()).collect();
        let hint = did_you_mean(name, known.iter().copied())
            .map(|s| format!("; did you mean \"{s}\"?"))
            .unwrap_or_default();
        format!(
            "connection \"{name}\" is not in the catalog (known: {}){hint}",
            known.join(", ")
        )
    }
}

/// Reads the catalog list at `path` (`connections` or `data.connections`).
/// Entries with errors are left out; the findings say why.
pub fn load(list: &Node, path: &str) -> (Vec<Connection>, Vec<Finding>) {
    let mut findings = Vec::new();
    let Some(items) = list.as_seq() else {
        let got = match &list.value {
            Value::Scalar(s) => format!("the string \"{}\"", s.text),
            Value::Map(..) => "a mapping".to_string(),
            Value::Seq(..) => "a list".to_string(),
        };
        findings.push(
            Finding::error(format!(
                "{path} is not a connections catalog: expected a list of connections (Polyaxon agent format), got {got}"
            ))
            .at(path),
        );
        return (Vec::new(), findings);
    };
    let mut connections: Vec<Connection> = Vec::new();
    for (i, entry) in items.iter().enumerate() {
        let at = index(path, i);
        let before = findings.len();
        if let Some(connection) = load_one(entry, &at, &mut findings) {
            if connections.iter().any(|c| c.name == connection.name) {
                findings.push(
                    Finding::error(format!(
                        "a connection named \"{}\" is already in the catalog; names must be unique",
                        connection.name
                    ))
                    .at(child(&at, "name")),
                );
            } else if findings.len() == before {
                connections.push(connection);
            }
        }
    }
    (connections, findings)
}

fn string(
    node: &Node,
    key: &str,
    path: &str,
    required: bool,
    findings: &mut Vec<Finding>,
) -> Option<String> {
    match node.get(key).filter(|n| !n.is_null()) {
        Some(value) => match value.as_str() {
            Some(s) if !s.is_empty() => Some(s.to_string()),
            _ => {
                findings.push(
                    Finding::error(format!("{key} must be a non-empty string"))
                        .at(child(path, key)),
                );
                None
            }
        },
        None => {
            if required {
                findings.push(Finding::error(format!("{key} is required")).at(path));
            }
            None
        }
    }
}

fn boolean(node: &Node, key: &str, path: &str, findings: &mut Vec<Finding>) -> Option<bool> {
    let value = node.get(key).filter(|n| !n.is_null())?;
    match value.resolve() {
        Some(Resolved::Bool(b)) => Some(b),
        _ => match value.as_scalar().and_then(crate::yaml::Scalar::yaml11_bool) {
            Some(b) => {
                findings.push(
                    Finding::warning(format!("YAML 1.1 boolean read as {b}; write {b}"))
                        .at(child(path, key)),
                );
                Some(b)
            }
            None => {
                findings.push(
                    Finding::error(format!("{key} must be true or false")).at(child(path, key)),
                );
                None
            }
        },
    }
}

fn absolute(
    value: Option<String>,
    key: &str,
    path: &str,
    findings: &mut Vec<Finding>,
) -> Option<String> {
    let value = value?;
    if value.starts_with('/') {
        Some(value)
    } else {
        findings.push(
            Finding::error(format!("{key} \"{value}\" must be an absolute path"))
                .at(child(path, key)),
        );
        None
    }
}

fn load_one(entry: &Node, path: &str, findings: &mut Vec<Finding>) -> Option<Connection> {
    if !check_fields(entry, CONNECTION_FIELDS, "a connection", path, findings) {
        return None;
    }
    let name = string(entry, "name", path, true, findings)?;
    let kind = string(entry, "kind", path, true, findings)?;
    if !KINDS.contains(&kind.as_str()) {
        let hint = did_you_mean(&kind, KINDS.iter().copied())
            .map(|s| format!("; did you mean \"{s}\"?"))
            .unwrap_or_default();
        findings.push(
            Finding::error(format!("unknown connection kind \"{kind}\"{hint}"))
                .at(child(path, "kind")),
        );
        return None;
    }
    let schema_path = child(path, "schema");
    let schema_node = entry.get("schema").filter(|n| !n.is_null());
    let schema = match (kind.as_str(), schema_node) {
        ("volume_claim" | "host_path", None) => {
            findings.push(Finding::error(format!("a {kind} connection needs a schema")).at(path));
            return None;
        }
        ("volume_claim", Some(s)) => {
            check_fields(
                s,
                &["volumeClaim", "mountPath", "readOnly"],
                "a volume_claim schema",
                &schema_path,
                findings,
            );
            let claim = string(s, "volumeClaim", &schema_path, true, findings);
            if let Some(c) = &claim
                && let Err(e) = validate::dns_subdomain(c)
            {
                findings.push(
                    Finding::error(format!(
                        "\"{c}\" is not a valid PersistentVolumeClaim name: {e}"
                    ))
                    .at(child(&schema_path, "volumeClaim")),
                );
            }
            let mount = absolute(
                string(s, "mountPath", &schema_path, true, findings),
                "mountPath",
                &schema_path,
                findings,
            );
            Schema::Claim {
                claim: claim?,
                mount_path: mount?,
                read_only: boolean(s, "readOnly", &schema_path, findings),
            }
        }
        ("host_path", Some(s)) => {
            check_fields(
                s,
                &["hostPath", "mountPath", "readOnly"],
                "a host_path schema",
                &schema_path,
                findings,
            );
            let host = absolute(
                string(s, "hostPath", &schema_path, true, findings),
                "hostPath",
                &schema_path,
                findings,
            );
            let mount = absolute(
                string(s, "mountPath", &schema_path, true, findings),
                "mountPath",
                &schema_path,
                findings,
            );
            Schema::HostPath {
                host_path: host?,
                mount_path: mount?,
                read_only: boolean(s, "readOnly", &schema_path, findings),
            }
        }
        ("gcs" | "s3" | "wasb", Some(s)) => {
            check_fields(s, &["bucket"], "a bucket schema", &schema_path, findings);
            string(s, "bucket", &schema_path, true, findings);
            Schema::Other
        }
        ("git", Some(s)) => {
            check_fields(
                s,
                &["url", "revision", "flags"],
                "a git schema",
                &schema_path,
                findings,
            );
            string(s, "url", &schema_path, false, findings);
            string(s, "revision", &schema_path, false, findings);
            if let Some(flags) = s.get("flags").filter(|n| !n.is_null())
                && flags
                    .as_seq()
                    .is_none_or(|f| f.iter().any(|x| x.as_str().is_none()))
            {
                findings.push(
                    Finding::error("flags must be a list of strings")
                        .at(child(&schema_path, "flags")),
                );
            }
            Schema::Other
        }
        ("registry", Some(s)) => {
            check_fields(
                s,
                &["url", "insecure"],
                "a registry schema",
                &schema_path,
                findings,
            );
            string(s, "url", &schema_path, true, findings);
            boolean(s, "insecure", &schema_path, findings);
            Schema::Other
        }
        (_, Some(s)) => {
            if s.as_map().is_none() {
                findings.push(Finding::error("schema must be a mapping").at(schema_path));
            }
            Schema::Other
        }
        (_, None) => Schema::Other,
    };
    let secret = entry
        .get("secret")
        .filter(|n| !n.is_null())
        .and_then(|n| load_resource(n, &child(path, "secret"), "Secret", findings));
    let config_map = entry
        .get("configMap")
        .filter(|n| !n.is_null())
        .and_then(|n| load_resource(n, &child(path, "configMap"), "ConfigMap", findings));
    let env = entry
        .get("env")
        .filter(|n| !n.is_null())
        .map(|n| load_env(n, &child(path, "env"), findings))
        .unwrap_or_default();
    let annotations = match entry.get("annotations").filter(|n| !n.is_null()) {
        Some(a) => match a.as_map() {
            Some(entries) if entries.iter().all(|(_, v)| v.as_scalar().is_some()) => {
                entries.clone()
            }
            _ => {
                findings.push(
                    Finding::error("annotations must be a mapping of strings")
                        .at(child(path, "annotations")),
                );
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    Some(Connection {
        name,
        kind,
        path: path.to_string(),
        schema,
        secret,
        config_map,
        env,
        annotations,
        raw: entry.clone(),
    })
}

fn load_resource(
    node: &Node,
    path: &str,
    what: &str,
    findings: &mut Vec<Finding>,
) -> Option<Resource> {
    if !check_fields(
        node,
        RESOURCE_FIELDS,
        &format!("a connection {what}"),
        path,
        findings,
    ) {
        return None;
    }
    let name = string(node, "name", path, true, findings)?;
    if let Err(e) = validate::dns_subdomain(&name) {
        findings.push(
            Finding::error(format!("\"{name}\" is not a valid {what} name: {e}"))
                .at(child(path, "name")),
        );
    }
    let mount_path = absolute(
        string(node, "mountPath", path, false, findings),
        "mountPath",
        path,
        findings,
    );
    let items = match node.get("items").filter(|n| !n.is_null()) {
        None => None,
        Some(list) => match list.as_seq() {
            Some(list) => {
                let mut keys = Vec::new();
                for (i, item) in list.iter().enumerate() {
                    let at = index(&child(path, "items"), i);
                    match item.scalar_text() {
                        Some(key) => {
                            if let Err(e) = validate::config_key(key) {
                                findings.push(
                                    Finding::error(format!("\"{key}\" is not a valid key: {e}"))
                                        .at(at),
                                );
                            } else if !keys.iter().any(|k| k == key) {
                                keys.push(key.to_string());
                            }
                        }
                        None => {
                            findings.push(Finding::error("items are key names (strings)").at(at))
                        }
                    }
                }
                Some(keys)
            }
            None => {
                findings.push(
                    Finding::error("items must be a list of key names").at(child(path, "items")),
                );
                None
            }
        },
    };
    let default_mode = match node.get("defaultMode").filter(|n| !n.is_null()) {
        None => None,
        Some(mode) => match mode.scalar_text().and_then(validate::file_mode) {
            Some(m) => Some(m),
            None => {
                findings.push(
                    Finding::error(
                        "defaultMode must be a file mode between 0 and 0777 (e.g. 0440 or 288)",
                    )
                    .at(child(path, "defaultMode")),
                );
                None
            }
        },
    };
    if default_mode.is_some() && mount_path.is_none() {
        findings.push(
            Finding::warning("defaultMode only applies with a mountPath; ignored")
                .at(child(path, "defaultMode")),
        );
    }
    let is_requested = boolean(node, "isRequested", path, findings).unwrap_or(false);
    Some(Resource {
        name,
        mount_path,
        items,
        default_mode,
        is_requested,
    })
}

/// `connection.env` as documented (`[{name, value}]`), as a map (`{K: V}`), or
/// as pairs (`[[K, V]]`): all three become name/value pairs.
fn load_env(node: &Node, path: &str, findings: &mut Vec<Finding>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut push =
        |name: Option<&str>, value: Option<&Node>, at: String, findings: &mut Vec<Finding>| {
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                findings.push(Finding::error("an env entry needs a name").at(at));
                return;
            };
            let value = match value.map(|v| (v.resolve(), v.scalar_text())) {
                Some((Some(Resolved::Str(s)), _)) => s.to_string(),
                Some((Some(Resolved::Null), _)) | None => String::new(),
                Some((Some(_), Some(text))) => {
                    findings.push(
                        Finding::warning(format!(
                            "a non-string env value; written as the string \"{text}\""
                        ))
                        .at(at.clone()),
                    );
                    text.to_string()
                }
                Some((None | Some(_), _)) => {
                    findings.push(Finding::error("an env value must be a string").at(at));
                    return;
                }
            };
            if out.iter().any(|(n, _)| n == name) {
                findings.push(Finding::error(format!("env \"{name}\" is given twice")).at(at));
                return;
            }
            out.push((name.to_string(), value));
        };
    match &node.value {
        Value::Map(entries, _) => {
            for (k, v) in entries {
                let key = k.scalar_text();
                push(key, Some(v), child(path, key.unwrap_or_default()), findings);
            }
        }
        Value::Seq(items, _) => {
            for (i, item) in items.iter().enumerate() {
                let at = index(path, i);
                match &item.value {
                    Value::Map(..) => {
                        check_fields(item, &["name", "value"], "an env entry", &at, findings);
                        push(
                            item.get("name").and_then(Node::scalar_text),
                            item.get("value"),
                            at,
                            findings,
                        );
                    }
                    Value::Seq(pair, _) if pair.len() == 2 => {
                        push(pair[0].scalar_text(), Some(&pair[1]), at, findings);
                    }
                    _ => findings
                        .push(Finding::error("expected {name, value} or [NAME, VALUE]").at(at)),
                }
            }
        }
        Value::Scalar(_) => findings
            .push(Finding::error("env must be a list of {name, value} or a mapping").at(path)),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> Node {
        crate::yaml::parse_one(text)
    }

    #[test]
    fn three_env_forms_agree() {
        for text in [
            "[{name: A, value: x}, {name: B, value: '3'}]",
            "{A: x, B: '3'}",
            "[[A, x], [B, '3']]",
        ] {
            let catalog = node(&format!("- name: c\n  kind: custom\n  env: {text}\n"));
            let (list, findings) = load(&catalog, "connections");
            assert!(findings.is_empty(), "{findings:?}");
            assert_eq!(
                list[0].env,
                vec![("A".into(), "x".into()), ("B".into(), "3".into())]
            );
        }
    }

    #[test]
    fn errors_have_paths() {
        let catalog = node(
            "- name: a\n  kind: s4\n- name: b\n  kind: gcs\n  schema: {bucket: gs://x}\n  secret: {name: Team_A, mountPath: rel}\n- name: b\n  kind: custom\n",
        );
        let (list, findings) = load(&catalog, "connections");
        let paths: Vec<_> = findings.iter().filter_map(|f| f.field.clone()).collect();
        assert_eq!(
            paths,
            [
                "connections[0].kind",
                "connections[1].secret.name",
                "connections[1].secret.mountPath"
            ]
        );
        assert!(findings[0].message.contains("did you mean \"s3\""));
        assert_eq!(list.len(), 1, "only the valid 'b' (the second) remains");
    }

    #[test]
    fn not_a_list() {
        let (_, findings) = load(&node("s3-datasets"), "data.connections");
        assert!(
            findings[0]
                .message
                .contains("got the string \"s3-datasets\""),
            "{}",
            findings[0].message
        );
    }
}
