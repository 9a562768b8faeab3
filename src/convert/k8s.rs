//! Checks and normalizes user-written Kubernetes objects (containers, volumes,
//! pod spec fields) against the OpenAPI schemas that k8s-openapi ships: field
//! names, types, and Polyaxon's leniencies (snake_case keys, numbers for
//! strings, YAML 1.1 booleans), each made explicit as a result. Fields the
//! schema does not know pass through as written.

use std::sync::LazyLock;

use k8s_openapi::api::batch::v1::PodFailurePolicy;
use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvFromSource, EnvVar, HostAlias, LocalObjectReference, PodDNSConfig,
    PodSecurityContext, PodSpec, SecurityContext, Toleration, Volume, VolumeMount,
};
use schemars::JsonSchema;
use serde_json::{Map, Value as Json};

use super::diag::{At, Diag};
use crate::results::did_you_mean;
use crate::yaml::{Node, Resolved, Style, Value};

/// The schema definitions, keyed by OpenAPI name (`io.k8s.api.core.v1.Container`).
struct Schemas {
    defs: Map<String, Json>,
}

static SCHEMAS: LazyLock<Schemas> = LazyLock::new(|| {
    let mut generator = schemars::SchemaGenerator::default();
    macro_rules! register {
        ($($t:ty),*) => { $( let _ = generator.subschema_for::<$t>(); )* };
    }
    register!(
        PodSpec,
        Container,
        Volume,
        VolumeMount,
        EnvVar,
        EnvFromSource,
        Toleration,
        Affinity,
        PodSecurityContext,
        SecurityContext,
        HostAlias,
        PodDNSConfig,
        LocalObjectReference,
        PodFailurePolicy
    );
    Schemas {
        defs: generator.take_definitions(false),
    }
});

/// The Kubernetes types users write inside a Polyaxon file.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Container,
    Volume,
    Toleration,
    Affinity,
    PodSecurityContext,
    HostAlias,
    PodDnsConfig,
    PodFailurePolicy,
}

impl Kind {
    fn schema_name(self) -> String {
        match self {
            Kind::Container => Container::schema_name(),
            Kind::Volume => Volume::schema_name(),
            Kind::Toleration => Toleration::schema_name(),
            Kind::Affinity => Affinity::schema_name(),
            Kind::PodSecurityContext => PodSecurityContext::schema_name(),
            Kind::HostAlias => HostAlias::schema_name(),
            Kind::PodDnsConfig => PodDNSConfig::schema_name(),
            Kind::PodFailurePolicy => PodFailurePolicy::schema_name(),
        }
        .into_owned()
    }
}

/// Normalizes `node` in place as a `kind`, reporting at `path`.
pub fn normalize(node: &mut Node, kind: Kind, path: &str, diag: &mut Diag) {
    let schema = Json::String(kind.schema_name());
    normalize_ref(node, &schema, At::Root(path), None, diag);
}

/// Normalizes one PodSpec field (`nodeSelector`, `tolerations`, …).
pub fn normalize_pod_field(node: &mut Node, field: &str, path: &str, diag: &mut Diag) {
    let schema = SCHEMAS
        .defs
        .get(PodSpec::schema_name().as_ref())
        .and_then(|s| s.get("properties"))
        .and_then(|p| p.get(field))
        .cloned()
        .unwrap_or(Json::Null);
    normalize_ref(node, &schema, At::Root(path), Some(field), diag);
}

/// Normalizes a `map[string]string` (labels, annotations, nodeSelector).
pub fn normalize_string_map(node: &mut Node, path: &str, diag: &mut Diag) {
    static STRING_MAP: LazyLock<Json> = LazyLock::new(
        || serde_json::json!({"type": "object", "additionalProperties": {"type": "string"}}),
    );
    let schema = &*STRING_MAP;
    normalize_ref(node, schema, At::Root(path), None, diag);
}

/// Is `field` a property of the given type?
pub fn has_field(kind: Kind, field: &str) -> bool {
    SCHEMAS
        .defs
        .get(&kind.schema_name())
        .and_then(|s| s.get("properties"))
        .and_then(Json::as_object)
        .is_some_and(|p| p.contains_key(field))
}

/// A schema node, or a bare definition name (our own shorthand for a `$ref`).
fn deref(schema: &Json) -> (Option<&str>, &Json) {
    let name = match schema {
        Json::String(name) => Some(name.as_str()),
        _ => schema
            .get("$ref")
            .and_then(Json::as_str)
            .and_then(|r| r.rsplit('/').next()),
    };
    match name.and_then(|n| SCHEMAS.defs.get(n).map(|d| (n, d))) {
        Some((n, def)) => (Some(n), def),
        None => (None, schema),
    }
}

fn short_name(name: Option<&str>) -> &str {
    name.and_then(|n| n.rsplit('.').next()).unwrap_or("object")
}

fn describe(node: &Node) -> &'static str {
    match &node.value {
        Value::Map(..) => "a mapping",
        Value::Seq(..) => "a list",
        Value::Scalar(_) => match node.resolve() {
            Some(Resolved::Bool(_)) => "a boolean",
            Some(Resolved::Int(_) | Resolved::Float(_)) => "a number",
            _ => "a string",
        },
    }
}

fn normalize_ref(
    node: &mut Node,
    schema: &Json,
    path: At<'_>,
    field: Option<&str>,
    diag: &mut Diag,
) {
    if node.is_null() {
        return;
    }
    let (name, schema) = deref(schema);
    if schema
        .get("x-kubernetes-int-or-string")
        .and_then(Json::as_bool)
        == Some(true)
    {
        if name.is_some_and(|n| n.ends_with(".Quantity")) {
            normalize_string(node, path, diag, "a quantity");
            if let Some(text) = node.as_str()
                && !is_quantity(text)
            {
                diag.error(
                    path,
                    format!(
                        "\"{text}\" is not a Kubernetes quantity (e.g. 500m, 2, 512Mi, 16Gi, 16G)"
                    ),
                );
            }
        } else {
            normalize_int_or_string(node, path, diag);
        }
        return;
    }
    match schema.get("type").and_then(Json::as_str) {
        Some("object") => {
            if let Some(props) = schema.get("properties").and_then(Json::as_object) {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Json::as_array)
                    .map(|r| r.iter().filter_map(Json::as_str).collect())
                    .unwrap_or_default();
                normalize_struct(node, short_name(name), props, &required, path, diag);
            } else if let Some(values) = schema.get("additionalProperties") {
                normalize_map(node, values, path, diag);
            }
        }
        Some("array") => normalize_array(node, schema, path, field, diag),
        Some("string") => normalize_string(node, path, diag, "a string"),
        Some("boolean") => normalize_bool(node, path, diag),
        Some("integer") => normalize_integer(node, path, diag),
        Some("number") => normalize_number(node, path, diag),
        _ => {}
    }
}

/// A list field given in a mapping: its name, length, and its items' fields.
type ListField<'a> = (String, usize, Option<&'a Map<String, Json>>);

fn normalize_struct(
    node: &mut Node,
    type_name: &str,
    props: &Map<String, Json>,
    required: &[&str],
    path: At<'_>,
    diag: &mut Diag,
) {
    let Value::Map(entries, _) = &mut node.value else {
        // `secretRef: creds` for `secretRef: {name: creds}`.
        let hint = match (node.scalar_text(), props.contains_key("name")) {
            (Some(text), true) => format!("; write {{name: {text}}}"),
            _ => String::new(),
        };
        diag.error(
            path,
            format!(
                "expected a mapping ({type_name}), found {}{hint}",
                describe(node)
            ),
        );
        return;
    };
    for field in required {
        if entries.iter().any(|(k, _)| k.scalar_text() == Some(*field)) {
            continue;
        }
        // A misspelling of it is reported on its own, with the fix.
        let misspelled = entries.iter().any(|(k, _)| {
            k.scalar_text().is_some_and(|k| {
                snake_to_camel(k) == *field
                    || did_you_mean(k, [*field]).is_some()
                    || name_confusion(k, props).as_deref() == Some(*field)
            })
        });
        if !misspelled {
            diag.error(path, format!("{type_name} needs \"{field}\""));
        }
    }
    // The usual case: every key is a field of the type.
    if entries
        .iter()
        .all(|(k, _)| k.scalar_text().is_some_and(|k| props.contains_key(k)))
    {
        for (key_node, value) in entries.iter_mut() {
            if let Some(key) = key_node.scalar_text()
                && let Some(schema) = props.get(key)
            {
                normalize_ref(value, schema, At::Key(&path, key), Some(key), diag);
            }
        }
        return;
    }
    // Lists of objects given here, for the "indent it under …" hint of a
    // field that belongs to their items (`value:` one level too far left).
    let lists: Vec<ListField<'_>> = entries
        .iter()
        .filter_map(|(k, v)| {
            let key = k.scalar_text()?;
            let items = deref(props.get(key)?).1.get("items")?;
            let fields = deref(items).1.get("properties").and_then(Json::as_object);
            Some((key.to_string(), v.as_seq().map_or(0, Vec::len), fields))
        })
        .collect();
    // Keys that are empty objects, for the "indent it under …" hint.
    let null_objects: Vec<(String, Option<&Map<String, Json>>)> = entries
        .iter()
        .filter(|(_, v)| v.is_null())
        .filter_map(|(k, _)| {
            let key = k.scalar_text()?;
            let (_, s) = deref(props.get(key)?);
            Some((
                key.to_string(),
                s.get("properties").and_then(Json::as_object),
            ))
        })
        .collect();
    // snake_case keys already translated, so two spellings of one field
    // (`env_from`, `env__from`) cannot both become `envFrom`.
    let mut translated: Vec<String> = Vec::new();
    let present: Vec<String> = entries
        .iter()
        .filter_map(|(k, _)| k.scalar_text().map(str::to_string))
        .collect();
    for (key_node, value) in entries.iter_mut() {
        let Some(key) = key_node.scalar_text().map(str::to_string) else {
            continue;
        };
        if let Some(schema) = props.get(&key) {
            normalize_ref(value, schema, At::Key(&path, &key), Some(&key), diag);
            continue;
        }
        let camel = snake_to_camel(&key);
        if key.contains('_') && props.contains_key(&camel) {
            if present.contains(&camel) || translated.contains(&camel) {
                diag.error(
                    At::Key(&path, &key),
                    format!("both \"{key}\" and \"{camel}\" are given; keep only \"{camel}\""),
                );
                continue;
            }
            diag.warning(
                At::Key(&path, &key),
                format!(
                    "\"{key}\" is the snake_case spelling of {type_name} field \"{camel}\"; translated to \"{camel}\""
                ),
            );
            if let Value::Scalar(s) = &mut key_node.value {
                s.text.clone_from(&camel);
            }
            translated.push(camel.clone());
            if let Some(schema) = props.get(&camel) {
                normalize_ref(value, schema, At::Key(&path, &key), Some(&camel), diag);
            }
            continue;
        }
        if let Some((parent, _)) = null_objects
            .iter()
            .find(|(_, fields)| fields.is_some_and(|f| f.contains_key(&key)))
        {
            diag.error(
                path,
                format!(
                    "{parent} is empty and \"{key}\" is not a field of {type_name} - indent \"{key}\" under \"{parent}\""
                ),
            );
            continue;
        }
        if let Some((list, len, _)) = lists
            .iter()
            .find(|(_, len, fields)| *len > 0 && fields.is_some_and(|f| f.contains_key(&key)))
        {
            diag.error(
                At::Key(&path, &key),
                format!(
                    "\"{key}\" is not a field of {type_name}; it belongs to the items of \"{list}\" - indent it under {list}[{}]",
                    len - 1
                ),
            );
            continue;
        }
        let suggestion = did_you_mean(&key, props.keys().map(String::as_str))
            .map(str::to_string)
            .or_else(|| key.contains('_').then(|| camel.clone()))
            .or_else(|| name_confusion(&key, props));
        match suggestion {
            Some(s) => diag.error(
                At::Key(&path, &key),
                format!("unknown field \"{key}\" in {type_name}; did you mean \"{s}\"?"),
            ),
            None => diag.warning(
                At::Key(&path, &key),
                format!(
                    "\"{key}\" is not a {type_name} field in Kubernetes 1.37; passed through as written (an older cluster rejects or drops it)"
                ),
            ),
        }
    }
}

fn normalize_map(node: &mut Node, values: &Json, path: At<'_>, diag: &mut Diag) {
    let Value::Map(entries, _) = &mut node.value else {
        diag.error(
            path,
            format!("expected a mapping, found {}", describe(node)),
        );
        return;
    };
    for (key, value) in entries.iter_mut() {
        let key = key.scalar_text().unwrap_or_default().to_string();
        normalize_ref(value, values, At::Key(&path, &key), None, diag);
    }
}

fn normalize_array(
    node: &mut Node,
    schema: &Json,
    path: At<'_>,
    field: Option<&str>,
    diag: &mut Diag,
) {
    let items_schema = schema.get("items").unwrap_or(&Json::Null);
    let wants_strings = deref(items_schema).1.get("type").and_then(Json::as_str) == Some("string");
    if wants_strings
        && matches!(field, Some("command" | "args"))
        && let Some(text) = node.scalar_text().map(str::to_string)
    {
        diag.warning(
            path,
            format!(
                "{} given as one string; it becomes the one-element list [{text:?}], so Kubernetes runs {text:?} as a single {} (write a list to split words)",
                field.unwrap_or_default(),
                if field == Some("command") { "executable name" } else { "argument" },
            ),
        );
        let mut item = node.clone();
        if let Value::Scalar(s) = &mut item.value {
            s.style = Style::Auto;
        }
        *node = Node::seq(vec![item]).with_line(node.line);
        return;
    }
    let Value::Seq(items, _) = &mut node.value else {
        diag.error(path, format!("expected a list, found {}", describe(node)));
        return;
    };
    for (i, item) in items.iter_mut().enumerate() {
        if item.is_null() {
            diag.error(At::Index(&path, i), "empty list entry");
            continue;
        }
        normalize_ref(item, items_schema, At::Index(&path, i), None, diag);
    }
}

fn normalize_string(node: &mut Node, path: At<'_>, diag: &mut Diag, what: &str) {
    let Value::Scalar(scalar) = &mut node.value else {
        diag.error(path, format!("expected {what}, found {}", describe(node)));
        return;
    };
    let retyped = scalar.style == Style::Plain && scalar.tag.is_none();
    match scalar.resolve() {
        Resolved::Null => return,
        Resolved::Int(_) | Resolved::Float(_) if retyped => diag.warning(
            path,
            format!(
                "a number where Kubernetes wants {what}; written as the string \"{}\"",
                scalar.text
            ),
        ),
        Resolved::Bool(_) if retyped => diag.warning(
            path,
            format!(
                "a boolean where Kubernetes wants {what}; written as the string \"{}\"",
                scalar.text
            ),
        ),
        Resolved::Str(text) if retyped && crate::yaml::yaml11_bool(text).is_some() => diag.warning(
            path,
            format!(
                "plain {text} is a boolean to YAML 1.1 readers (Polyaxon, kubectl); written as the string \"{text}\" - quote it to say so"
            ),
        ),
        _ => {}
    }
    scalar.tag = None;
    scalar.style = match scalar.style {
        Style::Literal | Style::Folded | Style::SingleQuoted | Style::DoubleQuoted => scalar.style,
        // A plain string no reader retypes stays as the author wrote it.
        Style::Plain if !crate::yaml::may_retype_plain(&scalar.text) => Style::Plain,
        // A plain number, boolean or null-like text becomes a string quoted as needed.
        Style::Plain | Style::Auto => Style::Auto,
    };
}

fn normalize_int_or_string(node: &mut Node, path: At<'_>, diag: &mut Diag) {
    match node.resolve() {
        Some(Resolved::Int(_) | Resolved::Str(_) | Resolved::Null) => {}
        _ => diag.error(
            path,
            format!("expected a number or a name, found {}", describe(node)),
        ),
    }
}

fn normalize_bool(node: &mut Node, path: At<'_>, diag: &mut Diag) {
    let Value::Scalar(scalar) = &mut node.value else {
        diag.error(
            path,
            format!("expected a boolean, found {}", describe(node)),
        );
        return;
    };
    match scalar.resolve() {
        Resolved::Bool(b) => {
            scalar.text = b.to_string();
            scalar.tag = None;
        }
        Resolved::Null => {}
        Resolved::Str(text) => match scalar.yaml11_bool() {
            Some(b) => {
                diag.warning(
                    path,
                    format!("YAML 1.1 boolean \"{text}\" read as {b}; write {b}"),
                );
                scalar.text = b.to_string();
            }
            None if scalar.style != Style::Plain => diag.error(
                path,
                format!(
                    "the quoted string \"{text}\" where a boolean is wanted; remove the quotes"
                ),
            ),
            None => diag.error(path, format!("expected true or false, found \"{text}\"")),
        },
        Resolved::Int(_) | Resolved::Float(_) => {
            diag.error(
                path,
                format!("expected true or false, found {}", scalar.text),
            );
        }
    }
}

fn normalize_integer(node: &mut Node, path: At<'_>, diag: &mut Diag) {
    let Some(resolved) = node.resolve() else {
        diag.error(
            path,
            format!("expected an integer, found {}", describe(node)),
        );
        return;
    };
    match resolved {
        Resolved::Int(text) => match crate::yaml::int_value(text) {
            // One spelling for every reader: `0440` is octal to kubectl, 440 to others.
            Some(n) => {
                let decimal = n.to_string();
                if let Value::Scalar(s) = &mut node.value {
                    s.text = decimal;
                    s.tag = None;
                }
            }
            None => diag.error(
                path,
                format!("{text} is not an integer Kubernetes can read"),
            ),
        },
        Resolved::Null => {}
        Resolved::Str(text) if text.parse::<i64>().is_ok() => diag.error(
            path,
            format!("the quoted string \"{text}\" where an integer is wanted; remove the quotes"),
        ),
        other => diag.error(
            path,
            format!("expected an integer, found {}", scalar_desc(&other)),
        ),
    }
}

fn normalize_number(node: &mut Node, path: At<'_>, diag: &mut Diag) {
    match node.resolve() {
        Some(Resolved::Int(_) | Resolved::Float(_) | Resolved::Null) => {}
        Some(Resolved::Str(text)) if text.parse::<f64>().is_ok() => diag.error(
            path,
            format!("the quoted string \"{text}\" where a number is wanted; remove the quotes"),
        ),
        _ => diag.error(path, format!("expected a number, found {}", describe(node))),
    }
}

fn scalar_desc(resolved: &Resolved<'_>) -> String {
    match resolved {
        Resolved::Null => "null".into(),
        Resolved::Bool(b) => b.to_string(),
        Resolved::Int(t) | Resolved::Float(t) => (*t).to_string(),
        Resolved::Str(t) => format!("\"{t}\""),
    }
}

/// `secretName` where the type says `name` (projected sources) and `name`
/// where it says `secretName`/`claimName` (volume sources): Kubernetes is
/// inconsistent here and people mix them up.
fn name_confusion(key: &str, props: &Map<String, Json>) -> Option<String> {
    if key.ends_with("Name") && props.contains_key("name") {
        return Some("name".into());
    }
    if key == "name" {
        return props
            .keys()
            .find(|k| k.ends_with("Name") && !k.contains("Path"))
            .cloned();
    }
    None
}

/// `<signed number><suffix>`: a binary SI (Ki…Ei), decimal SI (n u m k M G T P E) or exponent suffix.
fn is_quantity(text: &str) -> bool {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let digits_end = body
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(body.len(), |(i, _)| i);
    let (number, suffix) = body.split_at(digits_end);
    let number_ok = !number.is_empty()
        && number.matches('.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || suffix.strip_prefix(['e', 'E']).is_some_and(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    number_ok && suffix_ok
}

pub fn snake_to_camel(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
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
    fn snake_case_is_translated_with_a_warning() {
        let mut c = node("name: m\nvolume_mounts:\n- name: v\n  mount_path: /x\n");
        let mut diag = Diag::default();
        normalize(&mut c, Kind::Container, "run.container", &mut diag);
        assert!(!diag.has_errors(), "{:?}", diag.findings);
        assert_eq!(diag.findings.len(), 2);
        assert_eq!(
            c.get("volumeMounts")
                .and_then(|m| m.as_seq()?[0].get("mountPath")?.as_str()),
            Some("/x")
        );
        assert_eq!(
            diag.findings[1].field.as_deref(),
            Some("run.container.volume_mounts[0].mount_path")
        );
    }

    #[test]
    fn misindented_secret_ref_is_explained() {
        let mut c = node("name: m\nenvFrom:\n- secretRef:\n  name: s\n");
        let mut diag = Diag::default();
        normalize(&mut c, Kind::Container, "run.container", &mut diag);
        let f = &diag.findings[0];
        assert_eq!(f.field.as_deref(), Some("run.container.envFrom[0]"));
        assert!(
            f.message.contains("indent \"name\" under \"secretRef\""),
            "{}",
            f.message
        );
    }

    #[test]
    fn typo_is_an_error_and_new_fields_pass() {
        let mut c = node("name: m\nimagee: x\nfutureField: 1\n");
        let mut diag = Diag::default();
        normalize(&mut c, Kind::Container, "c", &mut diag);
        assert!(diag.findings[0].message.contains("did you mean \"image\""));
        assert_eq!(diag.findings[1].severity, crate::results::Severity::Warning);
    }

    #[test]
    fn quantities() {
        for ok in ["1", "0.5", "500m", "2Gi", "16G", "1e3", "+1", ".5"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["16gb", "", "Gi", "1.2.3", "2 Gi", "1e"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn leniencies() {
        let mut c = node(
            "name: m\ncommand: echo hi\nresources: {limits: {memory: 200}}\nenv: [{name: A, value: 1.10}]\nstdin: yes\ntty: \"true\"\n",
        );
        let mut diag = Diag::default();
        normalize(&mut c, Kind::Container, "c", &mut diag);
        let messages: Vec<_> = diag.findings.iter().map(|f| f.message.clone()).collect();
        assert_eq!(diag.findings.len(), 5, "{messages:#?}");
        assert!(c.get("command").and_then(|n| n.as_seq()).is_some());
        assert_eq!(
            c.get_path(&["resources", "limits", "memory"])
                .and_then(Node::as_str),
            Some("200")
        );
        assert_eq!(diag.findings[4].severity, crate::results::Severity::Error);
    }
}
