//! Inputs, outputs and params: declared types, defaults, required values,
//! `toEnv`, and the template context they make (with `globals` and
//! `connections`). Strict where Polyaxon is loose: a quoted string is never
//! retyped, an undeclared param is an error unless `contextOnly`.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value as J, json};

use super::diag::{Diag, child, index};
use crate::catalog::Connection;
use crate::results::did_you_mean;
use crate::yaml::{self, Node, Resolved, Value};

/// `globals.*` available in templates (Polyaxon's names, deterministic values).
pub const GLOBALS: &[&str] = &[
    "name",
    "uuid",
    "namespace",
    "owner_name",
    "project_name",
    "project_unique_name",
    "context_path",
    "artifacts_path",
    "run_artifacts_path",
    "run_outputs_path",
];

/// Names an input cannot take: they are template context namespaces.
const RESERVED: &[&str] = &[
    "params",
    "globals",
    "connections",
    "init",
    "inputs",
    "outputs",
    "ops",
    "dag",
    "runs",
];

const IO_FIELDS: &[&str] = &[
    "name",
    "description",
    "type",
    "isOptional",
    "isList",
    "isFlag",
    "argFormat",
    "connection",
    "toInit",
    "toEnv",
    "value",
    "validation",
    "delayValidation",
    "options",
];
const PARAM_FIELDS: &[&str] = &[
    "value",
    "ref",
    "contextOnly",
    "connection",
    "toInit",
    "toEnv",
];

const TYPES: &[&str] = &[
    "any",
    "int",
    "float",
    "bool",
    "str",
    "dict",
    "dict_of_dicts",
    "list",
    "uri",
    "auth",
    "path",
    "metric",
    "metadata",
    "date",
    "datetime",
    "image",
    "event",
    "artifacts",
    "dockerfile",
    "git",
    "file",
    "tensorboard",
    "uuid",
    "email",
    "port",
    "gcs",
    "s3",
    "wasb",
];

/// What the run sees of its inputs.
#[derive(Debug, Default)]
pub struct Resolution {
    pub context: J,
    /// `toEnv` inputs and params, as env vars for the main container.
    pub env: Vec<(String, String)>,
}

/// Deterministic stand-ins for the run's identity.
pub struct Globals<'a> {
    pub name: &'a str,
    pub namespace: Option<&'a str>,
    /// `RenderPolyaxon.params`: values for declared inputs the operation does not set.
    pub defaults: &'a Option<Node>,
    /// `RenderPolyaxon.globals`: `owner`, `project` and any other values.
    pub extra: &'a Option<Node>,
}

/// A run uuid derived from namespace/name: stable across runs and machines.
pub fn run_uuid(namespace: Option<&str>, name: &str) -> String {
    let key = format!("{}/{name}", namespace.unwrap_or_default());
    let hash = |seed: u64| {
        key.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    format!(
        "{:016x}{:016x}",
        hash(0xcbf2_9ce4_8422_2325),
        hash(0x8422_2325_cbf2_9ce4)
    )
}

struct Declared {
    name: String,
    kind: Option<String>,
    value: Option<Node>,
    optional: bool,
    is_list: bool,
    is_flag: bool,
    to_env: Option<String>,
    connection: Option<String>,
    options: Option<Vec<Node>>,
    path: String,
}

fn read_ios(list: Option<&Node>, path: &str, diag: &mut Diag, out: &mut Vec<Declared>) {
    let Some(list) = list.filter(|n| !n.is_null()) else {
        return;
    };
    let Some(items) = list.as_seq() else {
        diag.error(path, "expected a list of {name, type, ...}");
        return;
    };
    // A set, not a scan per input: a file may declare a great many.
    let mut seen: HashSet<String> = out.iter().map(|d| d.name.clone()).collect();
    for (i, item) in items.iter().enumerate() {
        let at = index(path, i);
        if !diag.check_fields(item, IO_FIELDS, "an input/output {name, type, ...}", &at) {
            continue;
        }
        let Some(name) = item.get("name").and_then(Node::as_str).map(str::to_string) else {
            diag.error(&at, "an input/output needs a name");
            continue;
        };
        if RESERVED.contains(&name.as_str()) {
            diag.error(
                child(&at, "name"),
                format!("input name \"{name}\" is reserved (template context namespace); rename the input"),
            );
            continue;
        }
        if !seen.insert(name.clone()) {
            diag.error(child(&at, "name"), format!("\"{name}\" is declared twice"));
            continue;
        }
        let mut kind = item.get("type").and_then(Node::as_str).map(str::to_string);
        if let Some(k) = &kind
            && !TYPES.contains(&k.as_str())
        {
            let hint = did_you_mean(k, TYPES.iter().copied())
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            diag.error(child(&at, "type"), format!("unknown type \"{k}\"{hint}"));
            // One finding for the misspelling: the value is not checked
            // against a type it was never meant to have.
            kind = None;
        }
        let flag = |key: &str, diag: &mut Diag| match item.get(key).and_then(Node::resolve) {
            None | Some(Resolved::Null) => false,
            Some(Resolved::Bool(b)) => b,
            _ => {
                diag.error(child(&at, key), format!("{key} must be true or false"));
                false
            }
        };
        if item.get("toInit").is_some_and(|n| !n.is_null()) {
            diag.error(
                child(&at, "toInit"),
                "toInit (an input turned into an init container) is not supported yet",
            );
        }
        out.push(Declared {
            optional: flag("isOptional", diag),
            is_list: flag("isList", diag),
            is_flag: flag("isFlag", diag),
            to_env: item.get("toEnv").and_then(Node::as_str).map(str::to_string),
            connection: item
                .get("connection")
                .and_then(Node::as_str)
                .map(str::to_string),
            options: item.get("options").and_then(Node::as_seq).cloned(),
            value: item.get("value").filter(|n| !n.is_null()).cloned(),
            kind,
            name,
            path: at,
        });
    }
}

/// Checks `value` against a declared type; the typed JSON value or an error message.
fn typed(value: &Node, kind: Option<&str>, is_list: bool) -> Result<(J, Option<String>), String> {
    if is_list {
        let Some(items) = value.as_seq() else {
            return Err(format!("expected a list of {}", kind.unwrap_or("values")));
        };
        let mut out = Vec::new();
        for item in items {
            out.push(typed(item, kind, false)?.0);
        }
        return Ok((J::Array(out), None));
    }
    let resolved = value.resolve();
    let quoted = value
        .as_scalar()
        .is_some_and(|s| s.style != yaml::Style::Plain);
    match kind.unwrap_or("any") {
        "int" | "port" => match resolved {
            Some(Resolved::Int(t)) => yaml::int_value(t)
                .map(|n| (json!(n), None))
                .ok_or_else(|| format!("{t} is out of range")),
            Some(Resolved::Str(t)) if quoted && t.parse::<i64>().is_ok() => Err(format!(
                "the quoted string \"{t}\" where an int is wanted; remove the quotes"
            )),
            _ => Err(format!("cannot use {} as an int", shown(value))),
        },
        "float" => match resolved {
            Some(Resolved::Int(t) | Resolved::Float(t)) => t
                .parse::<f64>()
                .ok()
                .or_else(|| yaml::int_value(t).map(|n| n as f64))
                .and_then(serde_json::Number::from_f64)
                .map(|n| (J::Number(n), None))
                .ok_or_else(|| format!("{t} is not a finite float")),
            Some(Resolved::Str(t)) if quoted && t.parse::<f64>().is_ok() => Err(format!(
                "the quoted string \"{t}\" where a float is wanted; remove the quotes"
            )),
            _ => Err(format!("cannot use {} as a float", shown(value))),
        },
        "bool" => match (
            resolved,
            value.as_scalar().and_then(yaml::Scalar::yaml11_bool),
        ) {
            (Some(Resolved::Bool(b)), _) => Ok((J::Bool(b), None)),
            (_, Some(b)) => Ok((
                J::Bool(b),
                Some(format!("YAML 1.1 boolean read as {b}; write {b}")),
            )),
            _ => Err(format!("cannot use {} as a bool", shown(value))),
        },
        "dict" | "dict_of_dicts" | "auth" | "metadata" => match &value.value {
            Value::Map(..) => Ok((yaml::to_json(value), None)),
            _ => Err(format!("cannot use {} as a dict", shown(value))),
        },
        "list" => match &value.value {
            Value::Seq(..) => Ok((yaml::to_json(value), None)),
            _ => Err(format!("cannot use {} as a list", shown(value))),
        },
        "any" | "git" | "artifacts" | "dockerfile" | "file" | "tensorboard" | "event"
        | "metric" => Ok((yaml::to_json(value), None)),
        _ => match (&value.value, resolved) {
            (Value::Scalar(_), Some(Resolved::Str(t))) => Ok((J::String(t.to_string()), None)),
            (Value::Scalar(s), Some(Resolved::Int(_) | Resolved::Float(_) | Resolved::Bool(_))) => {
                Ok((
                    J::String(s.text.clone()),
                    Some(format!(
                        "a {} where a string is wanted; used as the string \"{}\"",
                        shown(value),
                        s.text
                    )),
                ))
            }
            _ => Err(format!(
                "cannot use {} as a {}",
                shown(value),
                kind.unwrap_or("str")
            )),
        },
    }
}

fn shown(value: &Node) -> String {
    match &value.value {
        Value::Scalar(s) => format!("\"{}\"", s.text),
        Value::Seq(..) => "a list".into(),
        Value::Map(..) => "a mapping".into(),
    }
}

/// A param as given: name, value, toEnv, connection, contextOnly, field path.
type Given = (String, Node, Option<String>, Option<String>, bool, String);

/// Values for every declared input/output, from params and defaults.
pub fn resolve(
    component: &Node,
    component_path: &str,
    params: Option<(&Node, &str)>,
    globals: &Globals<'_>,
    diag: &mut Diag,
) -> Resolution {
    let mut declared = Vec::new();
    read_ios(
        component.get("inputs"),
        &child(component_path, "inputs"),
        diag,
        &mut declared,
    );
    let outputs_start = declared.len();
    read_ios(
        component.get("outputs"),
        &child(component_path, "outputs"),
        diag,
        &mut declared,
    );

    // params: `name: value` or `name: {value, toEnv, connection, contextOnly}`.
    let mut given: Vec<Given> = Vec::new();
    if let Some((params, path)) = params
        && !params.is_null()
    {
        match params.as_map() {
            Some(entries) => {
                for (k, v) in entries {
                    let name = k.scalar_text().unwrap_or_default().to_string();
                    let at = child(path, &name);
                    let is_object = v.as_map().is_some_and(|m| {
                        !m.is_empty()
                            && m.iter().all(|(k, _)| {
                                PARAM_FIELDS.contains(&k.scalar_text().unwrap_or_default())
                            })
                            && (v.get("value").is_some() || v.get("ref").is_some())
                    });
                    if !is_object {
                        given.push((name, v.clone(), None, None, false, at));
                        continue;
                    }
                    if v.get("ref").is_some_and(|n| !n.is_null()) {
                        diag.error(child(&at, "ref"), "param refs (ops.*, runs.*, dag.*) need Polyaxon's control plane; give a value");
                        continue;
                    }
                    if v.get("toInit").is_some_and(|n| !n.is_null()) {
                        diag.error(
                            child(&at, "toInit"),
                            "toInit (a param turned into an init container) is not supported yet",
                        );
                    }
                    let context_only = matches!(
                        v.get("contextOnly").and_then(Node::resolve),
                        Some(Resolved::Bool(true))
                    );
                    given.push((
                        name,
                        v.get("value")
                            .cloned()
                            .unwrap_or_else(|| Node::plain("null")),
                        v.get("toEnv").and_then(Node::as_str).map(str::to_string),
                        v.get("connection")
                            .and_then(Node::as_str)
                            .map(str::to_string),
                        context_only,
                        at,
                    ));
                }
            }
            None => diag.error(path, "params must be a mapping of names to values"),
        }
    }

    let mut context = Map::new();
    let mut params_ctx = Map::new();
    let mut env = Vec::new();
    // The first param given under each name, found by name (not by a scan
    // per input: both lists may be long).
    let mut given_by_name: HashMap<&str, &Given> = HashMap::with_capacity(given.len());
    for g in &given {
        given_by_name.entry(g.0.as_str()).or_insert(g);
    }
    for (i, d) in declared.iter().enumerate() {
        let param = given_by_name.get(d.name.as_str()).copied();
        let is_output = i >= outputs_start;
        let configured = globals.defaults.as_ref().and_then(|p| p.get(&d.name));
        let source = match (param, &d.value) {
            (Some(p), _) => Some((&p.1, p.5.clone())),
            (None, _) if configured.is_some() => {
                configured.map(|v| (v, format!("RenderPolyaxon params.{}", d.name)))
            }
            (None, Some(default)) => Some((default, child(&d.path, "value"))),
            (None, None) if d.optional || is_output => None,
            (None, None) => {
                diag.error(
                    &d.path,
                    format!("input \"{}\" is required (not optional, no default) and no param was given", d.name),
                );
                context.insert(d.name.clone(), J::Null);
                continue;
            }
        };
        let value = match source {
            Some((node, at)) if !node.is_null() => {
                match typed(node, d.kind.as_deref(), d.is_list) {
                    Ok((v, warning)) => {
                        if let Some(w) = warning {
                            diag.warning(&at, w);
                        }
                        if let Some(options) = &d.options
                            && !options.iter().any(|o| yaml::to_json(o) == v)
                        {
                            let allowed: Vec<String> = options
                                .iter()
                                .map(|o| yaml::to_json(o).to_string())
                                .collect();
                            diag.error(
                                &at,
                                format!(
                                    "{v} is not one of the options of \"{}\" ({})",
                                    d.name,
                                    allowed.join(", ")
                                ),
                            );
                        }
                        v
                    }
                    Err(message) => {
                        diag.error(&at, format!("{}: {message}", d.name));
                        // Defined all the same, so templates do not repeat the error.
                        context.insert(d.name.clone(), J::Null);
                        continue;
                    }
                }
            }
            _ => J::Null,
        };
        let connection = param
            .and_then(|p| p.3.clone())
            .or_else(|| d.connection.clone());
        let as_str = match &value {
            J::String(s) => s.clone(),
            J::Null => String::new(),
            other => python_json(other),
        };
        let as_arg = if d.is_flag {
            if value == J::Bool(true) {
                format!("--{}", d.name)
            } else {
                String::new()
            }
        } else if value.is_null() {
            String::new()
        } else {
            format!("--{}={as_str}", d.name)
        };
        // A flag renders as `--name` or nothing, as Polyaxon does.
        let rendered = if d.is_flag {
            J::String(as_arg.clone())
        } else {
            value.clone()
        };
        context.insert(d.name.clone(), rendered);
        params_ctx.insert(
            d.name.clone(),
            json!({"value": value, "type": d.kind, "connection": connection, "as_str": as_str, "as_arg": as_arg}),
        );
        if let Some(var) = param.and_then(|p| p.2.clone()).or_else(|| d.to_env.clone())
            && !value.is_null()
        {
            env.push((var, as_str.clone()));
        }
    }
    let declared_names: HashSet<&str> = declared.iter().map(|d| d.name.as_str()).collect();
    for (name, node, to_env, connection, context_only, at) in &given {
        if declared_names.contains(name.as_str()) {
            continue;
        }
        if !context_only {
            let known: Vec<&str> = declared.iter().map(|d| d.name.as_str()).collect();
            let hint = did_you_mean(name, known.iter().copied())
                .map(|s| format!("; did you mean \"{s}\"?"))
                .unwrap_or_default();
            diag.error(
                at,
                format!("param \"{name}\" requires a matching input/output declaration (or contextOnly: true){hint}"),
            );
            continue;
        }
        let value = yaml::to_json(node);
        let as_str = match &value {
            J::String(s) => s.clone(),
            other => python_json(other),
        };
        context.insert(name.clone(), value.clone());
        params_ctx.insert(
            name.clone(),
            json!({"value": value, "type": null, "connection": connection, "as_str": as_str, "as_arg": format!("--{name}={as_str}")}),
        );
        if let Some(var) = to_env {
            env.push((var.clone(), as_str));
        }
    }

    let uuid = run_uuid(globals.namespace, globals.name);
    let extra = globals.extra.as_ref();
    let owner = extra
        .and_then(|g| g.get("owner"))
        .and_then(Node::as_str)
        .unwrap_or("owner");
    let project = extra
        .and_then(|g| g.get("project"))
        .and_then(Node::as_str)
        .unwrap_or("project");
    let mut globals_ctx = json!({
            "name": globals.name,
            "uuid": uuid,
            "namespace": globals.namespace.unwrap_or_default(),
            "owner_name": owner,
            "project_name": project,
            "project_unique_name": format!("{owner}.{project}"),
            "context_path": "/plx-context",
            "artifacts_path": "/plx-context/artifacts",
            "run_artifacts_path": format!("/plx-context/artifacts/{uuid}"),
            "run_outputs_path": format!("/plx-context/artifacts/{uuid}/outputs"),
    });
    if let (Some(extra), J::Object(map)) = (extra.and_then(Node::as_map), &mut globals_ctx) {
        for (k, v) in extra {
            let key = k.scalar_text().unwrap_or_default();
            if !matches!(key, "owner" | "project") {
                map.insert(key.to_string(), yaml::to_json(v));
            }
        }
    }
    context.insert("globals".into(), globals_ctx);
    context.insert("params".into(), J::Object(params_ctx));
    Resolution {
        context: J::Object(context),
        env,
    }
}

/// `connections` as templates see it: each catalog entry's schema, with its
/// name and kind. The same for every operation of a run, so made once
/// (see [`crate::config::Config::template_connections`]).
pub fn connections_context(catalog: &[Connection]) -> J {
    let mut connections = Map::new();
    for c in catalog {
        let mut schema = c
            .raw
            .get("schema")
            .map(yaml::to_json)
            .unwrap_or(J::Object(Map::new()));
        if let J::Object(m) = &mut schema {
            m.entry("name").or_insert_with(|| J::String(c.name.clone()));
            m.entry("kind").or_insert_with(|| J::String(c.kind.clone()));
        }
        connections.insert(c.name.clone(), schema);
    }
    J::Object(connections)
}

/// JSON as Polyaxon's `orjson.dumps` writes it for env values.
fn python_json(value: &J) -> String {
    match value {
        J::Bool(b) => b.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(text: &str) -> Node {
        crate::yaml::parse_one(text)
    }

    fn globals() -> Globals<'static> {
        Globals {
            name: "run",
            namespace: None,
            defaults: &None,
            extra: &None,
        }
    }

    #[test]
    fn params_override_defaults_and_required_is_checked() {
        let component = node(
            "inputs:\n- {name: lr, type: float, value: 0.001, isOptional: true}\n- {name: epochs, type: int}\n- {name: v, type: bool, isFlag: true, value: true}\n",
        );
        let params = node("lr: {value: 0.01, toEnv: LR}\nepochs: 3\n");
        let mut diag = Diag::default();
        let r = resolve(
            &component,
            "component",
            Some((&params, "params")),
            &globals(),
            &mut diag,
        );
        assert!(diag.findings.is_empty(), "{:?}", diag.findings);
        assert_eq!(r.context["lr"], json!(0.01));
        assert_eq!(r.context["epochs"], json!(3));
        assert_eq!(r.context["v"], json!("--v"));
        assert_eq!(r.env, vec![("LR".to_string(), "0.01".to_string())]);

        let mut diag = Diag::default();
        resolve(&component, "component", None, &globals(), &mut diag);
        assert_eq!(
            diag.findings[0].field.as_deref(),
            Some("component.inputs[1]")
        );
    }

    #[test]
    fn types_are_strict() {
        let component = node(
            "inputs:\n- {name: lr, type: float}\n- {name: params, type: str, isOptional: true}\n",
        );
        let params = node("lr: abc\nextra: 1\n");
        let mut diag = Diag::default();
        resolve(
            &component,
            "c",
            Some((&params, "params")),
            &globals(),
            &mut diag,
        );
        let messages: Vec<_> = diag
            .findings
            .iter()
            .map(|f| (f.field.clone().unwrap_or_default(), f.message.clone()))
            .collect();
        assert!(
            messages
                .iter()
                .any(|(p, m)| p == "c.inputs[1].name" && m.contains("reserved")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|(p, m)| p == "params.lr" && m.contains("as a float")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|(p, m)| p == "params.extra" && m.contains("matching input")),
            "{messages:?}"
        );
    }

    #[test]
    fn a_misspelled_type_is_one_finding() {
        let component = node("inputs:\n- {name: lr, type: flaot, value: 0.001}\n");
        let mut diag = Diag::default();
        resolve(&component, "c", None, &globals(), &mut diag);
        let messages: Vec<_> = diag.findings.iter().map(|f| f.message.clone()).collect();
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(
            messages[0].contains("unknown type \"flaot\"; did you mean \"float\"?"),
            "{messages:?}"
        );
    }

    #[test]
    fn uuid_is_stable() {
        assert_eq!(run_uuid(Some("ml"), "train"), run_uuid(Some("ml"), "train"));
        assert_ne!(run_uuid(Some("ml"), "train"), run_uuid(None, "train"));
        assert_eq!(run_uuid(None, "x").len(), 32);
    }
}
