//! The function config: a `RenderPolyaxon` object (as functionConfig, as an
//! item, or the legacy plugin's config file) or a ConfigMap whose values are
//! the same fields as YAML text. Loaded once, validated, then read-only.

use crate::catalog::{self, Connection};
use crate::convert::diag::child;
use crate::policy::{self, Policy};
use crate::results::{Finding, check_fields, did_you_mean};
use crate::yaml::{self, Limits, Node, Resolved};

pub const GROUP_VERSION: &str = "polyaxon-krm.dev/v1alpha1";

const FIELDS: &[&str] = &[
    "connections",
    "presets",
    "defaults",
    "globals",
    "init",
    "policy",
    "output",
    "params",
];
const DEFAULT_FIELDS: &[&str] = &[
    "namespace",
    "serviceAccountName",
    "imagePullPolicy",
    "backoffLimit",
    "ttlSecondsAfterFinished",
    "labels",
    "annotations",
];
const OUTPUT_FIELDS: &[&str] = &["mode", "path", "prune"];

pub const DEFAULT_OUTPUT_PATH: &str = "{dir}/{stem}.generated.yaml";

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Config {
    /// The connections catalog, in the Polyaxon agent's format (valid entries).
    pub connections: Vec<Connection>,
    /// Names of catalog entries left out because they are invalid.
    pub invalid_connections: Vec<String>,
    /// False when the catalog itself could not be read.
    pub catalog_unreadable: bool,
    pub presets: Option<Node>,
    /// Param values for every operation whose component declares the input
    /// (an operation's own `params` win).
    pub params: Option<Node>,
    pub defaults: Defaults,
    pub globals: Option<Node>,
    pub init: Option<Node>,
    pub policy: Option<Policy>,
    pub output: Output,
    /// `connections` as templates see it, made on first use and shared by
    /// every operation (made per operation, a large catalog cost its size
    /// times the operations).
    pub template_connections: std::sync::OnceLock<minijinja::Value>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Defaults {
    pub namespace: Option<String>,
    pub service_account_name: Option<String>,
    pub image_pull_policy: Option<String>,
    /// 0 as Polyaxon's operator: a failed training run is not retried six times.
    pub backoff_limit: i64,
    pub ttl_seconds_after_finished: Option<i64>,
    pub labels: Vec<(Node, Node)>,
    pub annotations: Vec<(Node, Node)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// Keep the source (marked local-config) and write the workload beside it.
    #[default]
    Generate,
    /// Turn the source into its workload in place (a one-way migration).
    Replace,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Output {
    pub mode: Mode,
    pub path: String,
    /// Drop generated objects whose source is no longer in the input (a
    /// deleted or renamed operation). Off by default: with kpt selectors the
    /// source may simply not have been sent.
    pub prune: bool,
}

impl Default for Output {
    fn default() -> Self {
        Output {
            mode: Mode::Generate,
            path: DEFAULT_OUTPUT_PATH.to_string(),
            prune: false,
        }
    }
}

/// Is this object a function config we understand?
pub fn is_config_object(node: &Node) -> bool {
    let api = node.get("apiVersion").and_then(Node::as_str);
    let kind = node.get("kind").and_then(Node::as_str);
    (api == Some(GROUP_VERSION) && kind == Some("RenderPolyaxon"))
        || (api == Some("v1") && kind == Some("ConfigMap"))
}

/// Reads a `RenderPolyaxon` or a ConfigMap. Errors carry field paths from the
/// object root; what is wrong is left out of the config, so the items can
/// still be checked against the rest.
pub fn load(object: &Node) -> (Config, Vec<Finding>) {
    let mut findings = Vec::new();
    let kind = object
        .get("kind")
        .and_then(Node::as_str)
        .unwrap_or_default();
    let fields: Vec<(String, String, Node)> = if kind == "ConfigMap" {
        let mut fields = Vec::new();
        for (key, value) in object
            .get("data")
            .and_then(Node::as_map)
            .into_iter()
            .flatten()
        {
            let key = key.scalar_text().unwrap_or_default().to_string();
            let path = child("data", &key);
            let text = value.scalar_text().unwrap_or_default();
            match yaml::parse_stream(text, &Limits::default()) {
                Ok(mut docs) if docs.len() <= 1 => {
                    let node = docs
                        .pop()
                        .and_then(|d| d.root)
                        .unwrap_or_else(|| Node::plain("null"));
                    fields.push((key, path, node));
                }
                Ok(_) => findings.push(Finding::error("expected one YAML document").at(path)),
                Err(e) => findings.push(Finding::error(format!("{}: {e}", e.what())).at(path)),
            }
        }
        fields
    } else {
        object
            .as_map()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| {
                let key = k.scalar_text()?;
                (!matches!(key, "apiVersion" | "kind" | "metadata"))
                    .then(|| (key.to_string(), key.to_string(), v.clone()))
            })
            .collect()
    };
    let mut config = Config::default();
    for (key, path, value) in fields {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "connections" => {
                let (list, problems) = catalog::load(&value, &path);
                config.invalid_connections = value
                    .as_seq()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("name").and_then(Node::scalar_text))
                    .filter(|n| !list.iter().any(|c| c.name == *n))
                    .map(str::to_string)
                    .collect();
                config.catalog_unreadable = value.as_seq().is_none();
                config.connections = list;
                findings.extend(problems);
            }
            "presets" => {
                // Each preset is a partial Polyaxon file; it is checked where it is used.
                if value.as_map().is_some_and(|m| m.iter().all(|(_, v)| v.as_map().is_some())) {
                    config.presets = Some(value);
                } else {
                    findings.push(Finding::error("presets must map preset names to preset files (mappings)").at(path));
                }
            }
            "params" => {
                if value.as_map().is_some() {
                    config.params = Some(value);
                } else {
                    findings.push(Finding::error("params must map input names to values").at(path));
                }
            }
            "globals" => {
                if value.as_map().is_some_and(|m| m.iter().all(|(_, v)| v.as_scalar().is_some())) {
                    config.globals = Some(value);
                } else {
                    findings.push(
                        Finding::error("globals must map names (owner, project, …) to plain values").at(path),
                    );
                }
            }
            "init" => {
                if check_fields(&value, &["gitImage"], "init", &path, &mut findings) {
                    match value.get("gitImage").map(|n| n.as_str()) {
                        None | Some(Some(_)) => config.init = Some(value),
                        Some(None) => findings.push(Finding::error("gitImage must be an image reference").at(child(&path, "gitImage"))),
                    }
                }
            }
            "policy" => {
                let (p, problems) = policy::load(&value, &path);
                config.policy = Some(p);
                findings.extend(problems);
            }
            "defaults" => load_defaults(&value, &path, &mut config.defaults, &mut findings),
            "output" => load_output(&value, &path, &mut config.output, &mut findings),
            "spec" => findings.push(
                Finding::error("RenderPolyaxon fields go at the top level (connections, defaults, …), not under spec").at(path),
            ),
            other => {
                let hint = did_you_mean(other, FIELDS.iter().copied())
                    .map(|s| format!("; did you mean \"{s}\"?"))
                    .unwrap_or_default();
                findings.push(
                    Finding::error(format!(
                        "unknown field \"{other}\" in the function config (known: {}){hint}",
                        FIELDS.join(", ")
                    ))
                    .at(path),
                );
            }
        }
    }
    (config, findings)
}

fn load_defaults(node: &Node, path: &str, out: &mut Defaults, findings: &mut Vec<Finding>) {
    if !check_fields(node, DEFAULT_FIELDS, "defaults", path, findings) {
        return;
    }
    let string = |key: &str, findings: &mut Vec<Finding>| -> Option<String> {
        let value = node.get(key).filter(|n| !n.is_null())?;
        match value.as_str() {
            Some(s) => Some(s.to_string()),
            None => {
                findings.push(Finding::error("expected a string").at(child(path, key)));
                None
            }
        }
    };
    let integer = |key: &str, findings: &mut Vec<Finding>| -> Option<i64> {
        let value = node.get(key).filter(|n| !n.is_null())?;
        // ConfigMap values arrive as strings (kpt's `-- key=value`), so accept "3" here.
        let text = match value.resolve() {
            Some(Resolved::Int(t) | Resolved::Str(t)) => t,
            _ => "",
        };
        match text.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                findings
                    .push(Finding::error("expected an integer of 0 or more").at(child(path, key)));
                None
            }
        }
    };
    out.namespace = string("namespace", findings);
    out.service_account_name = string("serviceAccountName", findings);
    out.image_pull_policy = string("imagePullPolicy", findings);
    if let Some(policy) = &out.image_pull_policy
        && !matches!(policy.as_str(), "Always" | "IfNotPresent" | "Never")
    {
        findings.push(
            Finding::error(format!(
                "imagePullPolicy \"{policy}\" must be Always, IfNotPresent or Never"
            ))
            .at(child(path, "imagePullPolicy")),
        );
    }
    if let Some(n) = integer("backoffLimit", findings) {
        out.backoff_limit = n;
    }
    out.ttl_seconds_after_finished = integer("ttlSecondsAfterFinished", findings);
    for (key, slot) in [
        ("labels", &mut out.labels),
        ("annotations", &mut out.annotations),
    ] {
        if let Some(value) = node.get(key).filter(|n| !n.is_null()) {
            match value.as_map() {
                Some(entries) if entries.iter().all(|(_, v)| v.as_scalar().is_some()) => {
                    slot.clone_from(entries)
                }
                _ => findings
                    .push(Finding::error("expected a mapping of strings").at(child(path, key))),
            }
        }
    }
}

fn load_output(node: &Node, path: &str, out: &mut Output, findings: &mut Vec<Finding>) {
    if !check_fields(node, OUTPUT_FIELDS, "output", path, findings) {
        return;
    }
    match node.get("mode").and_then(Node::scalar_text) {
        None => {}
        Some("generate") => out.mode = Mode::Generate,
        Some("replace") => out.mode = Mode::Replace,
        Some(other) => findings.push(
            Finding::error(format!(
                "output.mode \"{other}\" must be generate or replace"
            ))
            .at(child(path, "mode")),
        ),
    }
    match node.get("prune").map(Node::resolve) {
        None => {}
        Some(Some(Resolved::Bool(b))) => out.prune = b,
        Some(Some(Resolved::Str("true"))) => out.prune = true,
        Some(Some(Resolved::Str("false"))) => out.prune = false,
        Some(_) => findings
            .push(Finding::error("output.prune must be true or false").at(child(path, "prune"))),
    }
    if let Some(template) = node.get("path").and_then(Node::scalar_text) {
        if template.starts_with('/') || template.split('/').any(|p| p == "..") {
            findings.push(
                Finding::error("output.path must stay inside the package (relative, no '..')")
                    .at(child(path, "path")),
            );
        } else if !(template.ends_with(".yaml") || template.ends_with(".yml")) {
            findings.push(
                Finding::error("output.path must end in .yaml or .yml").at(child(path, "path")),
            );
        } else {
            out.path = template.to_string();
        }
    }
}

/// The path of a generated object, from its source's path and the template.
pub fn generated_path(
    template: &str,
    source_path: &str,
    name: &str,
    kind: &str,
    namespace: &str,
) -> String {
    let (dir, file) = source_path.rsplit_once('/').unwrap_or(("", source_path));
    let stem = file
        .strip_suffix(".yaml")
        .or_else(|| file.strip_suffix(".yml"))
        .or_else(|| file.strip_suffix(".json"))
        .unwrap_or(file);
    let path = template
        .replace("{dir}", dir)
        .replace("{stem}", stem)
        .replace("{name}", name)
        .replace("{kind}", &kind.to_ascii_lowercase())
        .replace("{namespace}", namespace);
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Node {
        crate::yaml::parse_one(text)
    }

    #[test]
    fn render_polyaxon_and_configmap_agree() {
        let (typed, findings) = load(&parse(
            "apiVersion: polyaxon-krm.dev/v1alpha1\nkind: RenderPolyaxon\nmetadata: {name: c}\ndefaults:\n  backoffLimit: 2\n",
        ));
        assert!(findings.is_empty());
        let (cm, _) = load(&parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  defaults: |\n    backoffLimit: \"2\"\n",
        ));
        assert_eq!(typed.defaults.backoff_limit, 2);
        assert_eq!(typed, cm);
    }

    #[test]
    fn unknown_field_has_a_hint() {
        let (_, err) = load(&parse("kind: RenderPolyaxon\nconections: []\n"));
        assert!(
            err[0].message.contains("did you mean \"connections\""),
            "{}",
            err[0].message
        );
    }

    #[test]
    fn shipped_samples_load() {
        for text in [
            include_str!("../function-config/render-polyaxon.yaml"),
            include_str!("../function-config/configmap.yaml"),
        ] {
            let (_, findings) = load(&parse(text));
            assert!(findings.is_empty(), "{findings:?}");
        }
    }

    #[test]
    fn paths() {
        assert_eq!(
            generated_path(DEFAULT_OUTPUT_PATH, "ops/train.yaml", "t", "Job", ""),
            "ops/train.generated.yaml"
        );
        assert_eq!(
            generated_path(DEFAULT_OUTPUT_PATH, "train.yaml", "t", "Job", ""),
            "train.generated.yaml"
        );
        assert_eq!(
            generated_path("jobs/{name}.yaml", "a/b.yaml", "t", "Job", ""),
            "jobs/t.yaml"
        );
    }
}
