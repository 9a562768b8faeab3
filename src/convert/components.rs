//! Components that operations reference with `hubRef` or `pathRef`:
//! `PolyaxonComponent` items of the same input (and, in `render`, raw
//! Polyaxon components found beside the operations).

use std::collections::HashSet;

use super::{Item, LEGACY_PATH, PATH, annotation, config};
use crate::yaml::Node;

/// `hubRef: NAME:TAG` matches a component labelled with this tag.
pub const TAG_LABEL: &str = "polyaxon-krm.dev/tag";

struct Entry {
    /// Position in the input.
    position: usize,
    raw: bool,
    name: String,
    tag: Option<String>,
    polyaxon_name: Option<String>,
    stem: Option<String>,
    spec: Node,
    desc: String,
}

pub struct Catalog {
    entries: Vec<Entry>,
}

fn stem(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split('.').next().unwrap_or(file).to_string()
}

impl Catalog {
    pub fn of(items: &[Item]) -> Catalog {
        let mut entries = Vec::new();
        for (position, item) in items.iter().enumerate() {
            let node = &item.node;
            let is_component = node.get("apiVersion").and_then(Node::as_str)
                == Some(config::GROUP_VERSION)
                && node.get("kind").and_then(Node::as_str) == Some("PolyaxonComponent");
            let is_raw_component = item.raw_polyaxon
                && node
                    .get("kind")
                    .and_then(Node::as_str)
                    .is_none_or(|k| k == "component");
            if !is_component && !is_raw_component {
                continue;
            }
            let spec = if is_component {
                node.get("spec").cloned().unwrap_or_default()
            } else {
                node.clone()
            };
            let polyaxon_name = spec
                .get("name")
                .and_then(Node::scalar_text)
                .map(str::to_string);
            let file = item.origin.as_ref().map(|o| o.path.clone()).or_else(|| {
                annotation(node, PATH)
                    .or_else(|| annotation(node, LEGACY_PATH))
                    .map(str::to_string)
            });
            let name = if is_component {
                node.get_path(&["metadata", "name"])
                    .and_then(Node::scalar_text)
                    .unwrap_or_default()
                    .to_string()
            } else {
                polyaxon_name
                    .clone()
                    .or_else(|| file.as_deref().map(stem))
                    .unwrap_or_default()
            };
            let tag = node
                .get_path(&["metadata", "labels", TAG_LABEL])
                .and_then(Node::scalar_text)
                .map(str::to_string);
            let desc = if is_component {
                format!("PolyaxonComponent/{name}")
            } else {
                format!("component {name} ({})", file.clone().unwrap_or_default())
            };
            entries.push(Entry {
                position,
                raw: !is_component,
                name,
                tag,
                polyaxon_name,
                stem: file.as_deref().map(stem),
                spec,
                desc,
            });
        }
        Catalog { entries }
    }

    fn known(&self) -> String {
        if self.entries.is_empty() {
            return "no PolyaxonComponent is in the input".to_string();
        }
        let names: Vec<String> = self
            .entries
            .iter()
            .map(|e| match &e.tag {
                Some(t) => format!("{}:{t}", e.name),
                None => e.name.clone(),
            })
            .collect();
        format!("known: {}", names.join(", "))
    }

    /// The entry a `hubRef`/`pathRef` names: (position, Polyaxon file, description).
    pub fn find(&self, kind: &str, value: &str) -> Result<(usize, Node, String), String> {
        let candidates: Vec<&Entry> = match kind {
            "hubRef" => {
                let (name, tag) = match value.rsplit_once(':') {
                    Some((n, t)) => (n, Some(t)),
                    None => (value, None),
                };
                // `owner/name` hub references name the component last.
                let name = name.rsplit('/').next().unwrap_or(name);
                let named: Vec<&Entry> = self
                    .entries
                    .iter()
                    .filter(|e| e.name == name || e.polyaxon_name.as_deref() == Some(name))
                    .collect();
                match tag {
                    Some(t) => named
                        .into_iter()
                        .filter(|e| e.tag.as_deref() == Some(t))
                        .collect(),
                    None => {
                        let untagged: Vec<&Entry> =
                            named.iter().copied().filter(|e| e.tag.is_none()).collect();
                        if untagged.is_empty() { named } else { untagged }
                    }
                }
            }
            _ => {
                let wanted = stem(value);
                let by_name: Vec<&Entry> = self
                    .entries
                    .iter()
                    .filter(|e| e.polyaxon_name.as_deref() == Some(wanted.as_str()))
                    .collect();
                if by_name.is_empty() {
                    self.entries
                        .iter()
                        .filter(|e| e.stem.as_deref() == Some(wanted.as_str()))
                        .collect()
                } else {
                    by_name
                }
            }
        };
        match candidates.as_slice() {
            [one] => Ok((one.position, one.spec.clone(), one.desc.clone())),
            [] => Err(format!(
                "{kind} \"{value}\" matches no component ({})",
                self.known()
            )),
            many => Err(format!(
                "{kind} \"{value}\" is ambiguous: {} (tag them with the label {TAG_LABEL} and write NAME:TAG)",
                many.iter()
                    .map(|e| e.desc.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Raw components (render) that some operation references.
    pub fn referenced_raw(&self, items: &[Item]) -> HashSet<usize> {
        let mut used = HashSet::new();
        for item in items {
            let spec = if item.raw_polyaxon {
                Some(&item.node)
            } else {
                item.node.get("spec")
            };
            let Some(spec) = spec else { continue };
            for kind in ["hubRef", "pathRef"] {
                if let Some(value) = spec.get(kind).and_then(Node::as_str)
                    && let Ok((position, _, _)) = self.find(kind, value)
                    && self.entries.iter().any(|e| e.position == position && e.raw)
                {
                    used.insert(position);
                }
            }
        }
        used
    }
}
