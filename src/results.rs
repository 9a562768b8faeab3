//! KRM results: what went wrong (or was adjusted), where, and how to fix it.
//! The same list becomes `results` in a ResourceList and lines on stderr.

use std::fmt;

use crate::yaml::Node;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub path: String,
    pub index: usize,
    /// For `render`: which document of the file (1-based), for humans.
    pub document: Option<usize>,
}

/// One result. `field` is a path from the item root
/// (`spec.run.container.envFrom[0].secretRef.name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub message: String,
    pub resource: Option<ResourceRef>,
    pub field: Option<String>,
    pub file: Option<FileRef>,
}

impl Finding {
    pub fn error(message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            message: bounded(message.into(), MAX_MESSAGE_BYTES),
            resource: None,
            field: None,
            file: None,
        }
    }

    pub fn warning(message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(message)
        }
    }

    pub fn info(message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Info,
            ..Finding::error(message)
        }
    }

    pub fn at(mut self, field: impl Into<String>) -> Self {
        let field = bounded(field.into(), MAX_FIELD_BYTES);
        self.field = (!field.is_empty()).then_some(field);
        self
    }

    pub fn on(mut self, resource: Option<ResourceRef>, file: Option<FileRef>) -> Self {
        if self.resource.is_none() {
            self.resource = resource;
        }
        if self.file.is_none() {
            self.file = file;
        }
        self
    }

    pub fn to_node(&self) -> Node {
        let mut node = Node::map();
        node.set("message", Node::string(&self.message));
        node.set("severity", Node::string(self.severity.as_str()));
        if let Some(r) = &self.resource {
            let mut rr = Node::map();
            rr.set("apiVersion", Node::string(&r.api_version));
            rr.set("kind", Node::string(&r.kind));
            rr.set("name", Node::string(&r.name));
            if let Some(ns) = &r.namespace {
                rr.set("namespace", Node::string(ns));
            }
            node.set("resourceRef", rr);
        }
        if let Some(path) = &self.field {
            let mut field = Node::map();
            field.set("path", Node::string(path));
            node.set("field", field);
        }
        if let Some(file) = &self.file {
            let mut f = Node::map();
            f.set("path", Node::string(&file.path));
            f.set(
                "index",
                Node::int(i64::try_from(file.index).unwrap_or(i64::MAX)),
            );
            node.set("file", f);
        }
        node
    }
}

/// `error: KIND/NAME FIELD.PATH: message (FILE)`, the line kustomize and Argo CD show.
/// Longest message and field path a finding keeps. A finding is made per
/// field, and input can repeat a field (aliases, components) or make its
/// text large (a list of known names, a 16 MiB key or template): longer
/// text is cut, with its length said.
const MAX_MESSAGE_BYTES: usize = 2000;
const MAX_FIELD_BYTES: usize = 1000;

fn bounded(text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    // A new string: cutting the old one would keep all of its memory.
    format!("{}… ({} bytes)", head(&text, max), text.len())
}

/// The longest start of `text` of at most `max` bytes that ends on a
/// character boundary.
pub fn head(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.severity.as_str())?;
        if let Some(r) = &self.resource {
            write!(f, "{r} ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(file) = &self.file {
            write!(f, " ({file})")?;
        }
        Ok(())
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

impl fmt::Display for FileRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.document {
            Some(doc) => write!(f, "{}, document {doc}", self.path),
            None => write!(f, "{}", self.path),
        }
    }
}

pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.severity == Severity::Error)
}

/// An error for `key`, which is not one of `known` in `what`, with a
/// "did you mean" when a known name is close.
pub fn unknown_field(key: &str, known: &[&str], what: &str, at: &str) -> Finding {
    let hint = did_you_mean(key, known.iter().copied())
        .map(|s| format!("; did you mean \"{s}\"?"))
        .unwrap_or_default();
    Finding::error(format!("unknown field \"{key}\" in {what}{hint}")).at(at)
}

/// Checks that `node` is a mapping whose keys are all `known`: one finding
/// per unknown key. False (and one finding) when it is not a mapping.
pub fn check_fields(
    node: &Node,
    known: &[&str],
    what: &str,
    path: &str,
    findings: &mut Vec<Finding>,
) -> bool {
    let Some(entries) = node.as_map() else {
        findings.push(Finding::error(format!("expected a mapping ({what})")).at(path));
        return false;
    };
    for (k, _) in entries {
        let key = k.scalar_text().unwrap_or_default();
        if !known.contains(&key) {
            let at = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
            findings.push(unknown_field(key, known, what, &at));
        }
    }
    true
}

/// Edit-distance suggestion for a mistyped name ("did you mean …?").
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    // A suggestion is for a typo in a name: long text is not a name, and its
    // edit distance would cost the product of the lengths.
    const LONGEST: usize = 64;
    if word.len() > LONGEST {
        return None;
    }
    let lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .filter(|c| c.len() <= LONGEST && c.len().abs_diff(word.len()) <= 2.max(c.len() / 3))
        .map(|c| (distance(&lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3) && *d < c.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let known = ["environment", "container", "connections"];
        assert_eq!(did_you_mean("enviroment", known), Some("environment"));
        assert_eq!(did_you_mean("zzz", known), None);
        assert_eq!(
            did_you_mean("maxRetry", ["maxRetries", "ttl", "timeout"]),
            Some("maxRetries")
        );
    }

    #[test]
    fn long_text_is_not_compared_and_long_messages_are_cut() {
        let long = "x".repeat(100_000);
        assert_eq!(did_you_mean(&long, [long.as_str()]), None);
        let f = Finding::error("é".repeat(5000)).at("a.".repeat(5000));
        assert!(
            f.message.len() < MAX_MESSAGE_BYTES + 40,
            "{}",
            f.message.len()
        );
        assert!(
            f.message.ends_with("… (10000 bytes)"),
            "{}",
            &f.message[1990..]
        );
        assert!(f.field.is_some_and(|p| p.ends_with("… (10000 bytes)")));
    }

    #[test]
    fn renders_kustomize_line() {
        let f = Finding::error("bad").at("spec.run").on(
            Some(ResourceRef {
                api_version: "v1".into(),
                kind: "PolyaxonOperation".into(),
                name: "x".into(),
                namespace: None,
            }),
            Some(FileRef {
                path: "a.yaml".into(),
                index: 0,
                document: None,
            }),
        );
        assert_eq!(
            f.to_string(),
            "error: PolyaxonOperation/x spec.run: bad (a.yaml)"
        );
    }
}
