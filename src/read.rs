//! Input: a ResourceList (any apiVersion, or `kind: List`), a bare stream, or
//! files and folders for `render`. Turns text into [`Item`]s.

use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::convert::{Item, Origin};
use crate::results::{FileRef, Finding};
use crate::yaml::{self, Copyable, Limits, Node, Offered, Verbatim};

/// How the items arrived, so the output can answer in kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Envelope {
    ResourceList { api_version: String, kind: String },
    Stream,
}

#[derive(Debug)]
pub struct Input {
    pub envelope: Envelope,
    pub items: Vec<Item>,
    pub function_config: Option<Node>,
}

pub fn decode(bytes: &[u8], max_bytes: usize) -> Result<&str, Finding> {
    if bytes.len() > max_bytes {
        return Err(Finding::error(format!(
            "the input is over the limit of {max_bytes} bytes (--max-input-bytes)"
        )));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        Finding::error(format!(
            "the input is not UTF-8 (invalid byte at offset {}); YAML for Kubernetes must be UTF-8",
            e.valid_up_to()
        ))
    })
}

/// How the answer will be written, which decides which trees may be pruned
/// while reading (an object written from its text needs no more of its
/// tree than the converter reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Whole trees, nothing pruned (tests, tools).
    Whole,
    /// Answered in the question's form (a KRM function): list items stay
    /// list items, stream documents stay documents.
    InKind,
    /// Answered as a stream whatever came in (the legacy plugin): only
    /// stream documents keep their place.
    Stream,
}

/// Reads what the KRM orchestrators (or a pipe) send, whole.
pub fn read_krm(text: &str, limits: &Limits) -> Result<Input, Vec<Finding>> {
    read_krm_for(text, limits, Answer::Whole)
}

/// Reads what the KRM orchestrators (or a pipe) send, pruning the trees of
/// objects that only pass through when `answer` writes them from their text.
pub fn read_krm_for(text: &str, limits: &Limits, answer: Answer) -> Result<Input, Vec<Finding>> {
    let is_list_kind =
        |kind: Option<&Node>| matches!(kind.and_then(Node::as_str), Some("ResourceList" | "List"));
    let prune = |node: &Node, offered: Offered<'_>| {
        let keeps_place = match (answer, offered) {
            (Answer::Whole, _) => false,
            (_, Offered::Root) => true,
            // A list's items are written as its items only when the list is
            // the envelope: it says so before its items (kpt and kustomize
            // write `kind` first). Should it turn out not to be the envelope,
            // it is read again, whole, below.
            (Answer::InKind, Offered::Entry { key, siblings }) => {
                key == "items"
                    && is_list_kind(
                        siblings
                            .iter()
                            .find(|(k, _)| k.scalar_text() == Some("kind"))
                            .map(|(_, v)| v),
                    )
            }
            (Answer::Stream, Offered::Entry { .. }) => false,
        };
        keeps_place && crate::convert::passes_through(node)
    };
    let docs = yaml::parse_stream_pruning(text, limits, &prune)
        .map_err(|e| vec![Finding::error(format!("the input is {}: {e}", e.what()))])?;
    let roots: Vec<(usize, Node, Copyable, Range<usize>)> = docs
        .into_iter()
        .enumerate()
        .filter_map(|(i, d)| {
            let (copyable, source) = (d.copyable, d.source);
            d.root
                .filter(|r| !r.is_null())
                .map(|r| (i + 1, r, copyable, source))
        })
        .collect();
    if roots.is_empty() {
        return Err(vec![Finding::error(
            "no input: expected a ResourceList (or a stream of Kubernetes objects) on stdin",
        )]);
    }
    if let [(_, root, _, _)] = roots.as_slice()
        && is_list_kind(root.get("kind"))
        && (root.get("items").is_some() || root.get("functionConfig").is_some())
    {
        let kind = root
            .get("kind")
            .and_then(Node::as_str)
            .unwrap_or_default()
            .to_string();
        let (root, verbatim) = roots
            .into_iter()
            .next()
            .map(|(_, r, v, _)| (r, v))
            .unwrap_or_default();
        return read_resource_list(root, &kind, verbatim.entries_of("items").unwrap_or(&[]));
    }
    let mut findings = Vec::new();
    let mut items = Vec::new();
    for (document, root, copyable, source) in roots {
        // A list that is an item of a stream, not the envelope: its items
        // were pruned while it looked like one.
        let (root, copyable) = if copyable.pruned_entries {
            (read_whole(text, source, limits)?, Copyable::default())
        } else {
            (root, copyable)
        };
        if root.as_map().is_some() {
            items.push(Item::new(root).with_verbatim(copyable.root));
        } else {
            findings.push(Finding::error(format!(
                "document {document} of the input is not a Kubernetes object (a mapping)"
            )));
        }
    }
    if findings.is_empty() {
        Ok(Input {
            envelope: Envelope::Stream,
            items,
            function_config: None,
        })
    } else {
        Err(findings)
    }
}

/// The user's objects in `text` that the function only passes through, as
/// JSON values in order: what every successful run must give back equal (the
/// invariant the property tests, the fuzz targets and the corpus test
/// check). Objects we make are left out (`output.mode: replace` puts a Job
/// in its source's place). None when `text` does not read.
pub fn passing_through_values(text: &str) -> Option<Vec<serde_json::Value>> {
    let input = read_krm(text, &Limits::default()).ok()?;
    Some(
        input
            .items
            .iter()
            .filter(|i| {
                crate::convert::passes_through(&i.node)
                    && i.node
                        .get_path(&["metadata", "labels", crate::convert::job::MANAGED_BY])
                        .and_then(Node::scalar_text)
                        != Some(crate::convert::job::TOOL)
            })
            .map(|i| yaml::to_json(&i.node))
            .collect(),
    )
}

/// The root of the document at `source`, read again with nothing pruned.
fn read_whole(text: &str, source: Range<usize>, limits: &Limits) -> Result<Node, Vec<Finding>> {
    text.get(source)
        .and_then(|doc| yaml::parse_stream(doc, limits).ok())
        .and_then(|docs| docs.into_iter().find_map(|d| d.root))
        .ok_or_else(|| {
            vec![Finding::error(
                "internal error: a document of the input did not read the same twice",
            )]
        })
}

/// Takes the list apart, moving its items out (no copy of the tree).
fn read_resource_list(
    mut root: Node,
    kind: &str,
    verbatim: &[Option<Verbatim>],
) -> Result<Input, Vec<Finding>> {
    let api_version = root
        .get("apiVersion")
        .and_then(Node::as_str)
        .unwrap_or("config.kubernetes.io/v1")
        .to_string();
    let mut findings = Vec::new();
    let mut items = Vec::new();
    match root.remove("items") {
        None => {}
        Some(list) if list.is_null() => {}
        Some(list) => match list.value {
            crate::yaml::Value::Seq(list, _) => {
                items.reserve(list.len());
                for (i, item) in list.into_iter().enumerate() {
                    if item.as_map().is_some() {
                        let text = verbatim.get(i).cloned().flatten();
                        items.push(Item::new(item).with_verbatim(text));
                    } else {
                        findings.push(
                            Finding::error("an item is not a Kubernetes object (a mapping)")
                                .at(format!("items[{i}]")),
                        );
                    }
                }
            }
            _ => findings.push(Finding::error("items must be a list").at("items")),
        },
    }
    let function_config = root.remove("functionConfig").filter(|n| !n.is_null());
    if let Some(fc) = &function_config
        && fc.as_map().is_none()
    {
        findings.push(Finding::error("functionConfig must be an object").at("functionConfig"));
    }
    if findings.is_empty() {
        Ok(Input {
            envelope: Envelope::ResourceList {
                api_version,
                kind: kind.to_string(),
            },
            items,
            function_config,
        })
    } else {
        Err(findings)
    }
}

/// Reads at most `max_bytes` of a file: a larger one is an error before it
/// is read whole (`--max-input-bytes`, `limit`, bounds what a run reads in
/// all; `max_bytes` is what is left of it).
pub fn read_file_capped(path: &Path, max_bytes: usize, limit: usize) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > max_bytes {
        return Err(format!(
            "over the limit of {limit} bytes the run may read (--max-input-bytes)"
        ));
    }
    Ok(bytes)
}

/// Reads a config file (the legacy plugin's argument, or `render --config`).
pub fn read_config_file(path: &Path, limits: &Limits, max_bytes: usize) -> Result<Node, Finding> {
    let file = FileRef {
        path: path.display().to_string(),
        index: 0,
        document: None,
    };
    let bytes = read_file_capped(path, max_bytes, max_bytes).map_err(|e| {
        Finding::error(format!("cannot read the config file: {e}")).on(None, Some(file.clone()))
    })?;
    let text = decode(&bytes, usize::MAX).map_err(|f| f.on(None, Some(file.clone())))?;
    let docs = yaml::parse_stream(text, limits).map_err(|e| {
        Finding::error(format!("the config file is {}: {e}", e.what())).on(None, Some(file.clone()))
    })?;
    let mut roots = docs
        .into_iter()
        .filter_map(|d| d.root)
        .filter(|r| !r.is_null());
    match (roots.next(), roots.next()) {
        (Some(root), None) if root.as_map().is_some() => Ok(root),
        _ => Err(Finding::error(
            "the config file must hold one object (RenderPolyaxon or ConfigMap)",
        )
        .on(None, Some(file))),
    }
}

/// A file `render` reads, with its text kept for byte-exact output later.
pub struct SourceFile {
    pub path: String,
    pub text: String,
}

/// Collects the files under `paths` (sorted, recursive), skipping Kptfiles,
/// kustomizations, hidden folders and `exclude` globs.
pub fn collect_files(paths: &[PathBuf], exclude: &[String]) -> Result<Vec<PathBuf>, Finding> {
    let mut out = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| Finding::error(format!("cannot read {}: {e}", path.display())))?;
        if meta.is_dir() {
            walk(path, path, exclude, &mut out)?;
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

fn walk(
    root: &Path,
    dir: &Path,
    exclude: &[String],
    out: &mut Vec<PathBuf>,
) -> Result<(), Finding> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Finding::error(format!("cannot read {}: {e}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let relative = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .to_string_lossy()
            .replace('\\', "/");
        if exclude
            .iter()
            .any(|g| crate::glob::matches(g, &relative) || crate::glob::matches(g, name))
        {
            continue;
        }
        // Hidden files and folders (.git, .github, editor and tool configs)
        // are not manifests; links could lead outside the folder given.
        if name.starts_with('.') {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            walk(root, &path, exclude, out)?;
        } else if (name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json"))
            && !matches!(
                name,
                "Kptfile" | "kustomization.yaml" | "kustomization.yml" | "Kustomization"
            )
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Is this document a raw Polyaxon file (no KRM envelope)?
fn is_raw_polyaxon(node: &Node) -> bool {
    node.get("apiVersion").is_none()
        && (matches!(
            node.get("kind").and_then(Node::as_str),
            Some("component" | "operation")
        ) || node.get("run").is_some())
}

/// Parses the documents of `render`'s files into items, and reports every
/// document it cannot use (the others are still converted, so one run shows
/// every problem).
pub fn read_files(files: &[SourceFile], limits: &Limits) -> (Vec<Item>, Vec<Finding>) {
    let mut items = Vec::new();
    let mut findings = Vec::new();
    for file in files {
        let docs = match yaml::parse_stream(&file.text, limits) {
            Ok(docs) => docs,
            Err(e) => {
                findings.push(Finding::error(format!("{}: {e}", e.what())).on(
                    None,
                    Some(FileRef {
                        path: file.path.clone(),
                        index: 0,
                        document: None,
                    }),
                ));
                continue;
            }
        };
        for (i, doc) in docs.into_iter().enumerate() {
            let source = doc.source.clone();
            let Some(root) = doc.root.filter(|r| !r.is_null()) else {
                continue;
            };
            let origin = Origin {
                path: file.path.clone(),
                document: i + 1,
                source,
            };
            let file_ref = FileRef {
                path: file.path.clone(),
                index: i,
                document: Some(i + 1),
            };
            if root.as_map().is_none() {
                findings.push(
                    Finding::error("this document is not a Kubernetes object (a mapping)")
                        .on(None, Some(file_ref)),
                );
                continue;
            }
            if root.get("apiVersion").is_none() && root.get("isPreset").is_some() {
                findings.push(
                    Finding::error("this is a Polyaxon preset (isPreset), not a component or operation: put it under RenderPolyaxon.presets and name it in an operation's presets")
                        .on(None, Some(file_ref)),
                );
                continue;
            }
            let raw = is_raw_polyaxon(&root);
            if !raw && root.get("apiVersion").is_none() {
                findings.push(
                    Finding::error(
                        "this document is neither a Kubernetes object (no apiVersion) nor a Polyaxon component or operation (no kind: component|operation, no run); a Polyaxon override fragment is not supported yet",
                    )
                    .on(None, Some(file_ref)),
                );
                continue;
            }
            items.push(Item {
                namespace: None,
                node: root,
                // Output goes to other files than these ranges index.
                verbatim: None,
                origin: Some(origin),
                raw_polyaxon: raw,
            });
        }
    }
    (items, findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_that_pass_through_are_pruned_and_only_where_they_keep_their_place() {
        let list = "kind: ResourceList\nitems:\n\
            - apiVersion: apps/v1\n  kind: Deployment\n  metadata:\n    name: web\n  spec:\n    replicas: 2\n\
            - apiVersion: polyaxon-krm.dev/v1alpha1\n  kind: PolyaxonOperation\n  metadata:\n    name: op\n  spec: {}\n";
        let l = Limits::default();
        let fields = |input: &Input| -> Vec<(bool, bool)> {
            input
                .items
                .iter()
                .map(|i| {
                    (
                        i.node.get("spec").is_some(),
                        i.verbatim.as_ref().is_some_and(|v| v.pruned),
                    )
                })
                .collect()
        };
        let in_kind = read_krm_for(list, &l, Answer::InKind).expect("reads");
        assert_eq!(fields(&in_kind), vec![(false, true), (true, false)]);
        let whole = read_krm(list, &l).expect("reads");
        assert_eq!(fields(&whole), vec![(true, false), (true, false)]);
        // Answered as a stream, list items move: nothing is pruned.
        let stream = read_krm_for(list, &l, Answer::Stream).expect("reads");
        assert_eq!(fields(&stream), vec![(true, false), (true, false)]);
        let docs = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n";
        let stream = read_krm_for(docs, &l, Answer::Stream).expect("reads");
        assert_eq!(fields(&stream), vec![(false, true)]);
    }

    #[test]
    fn a_list_that_turns_out_to_be_an_item_is_read_whole() {
        // Pruned while it looked like the envelope; a second document makes
        // it one item of a stream, written from its tree (it holds an alias).
        let text = "kind: List\napiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n  stringData: {a: b}\nx: &x 1\ny: *x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n";
        let input = read_krm_for(text, &Limits::default(), Answer::InKind).expect("reads");
        assert_eq!(input.envelope, Envelope::Stream);
        let list = &input.items[0];
        assert!(list.verbatim.is_none());
        assert_eq!(
            list.node
                .get("items")
                .and_then(|i| i.as_seq()?.first()?.get_path(&["stringData", "a"]))
                .and_then(Node::as_str),
            Some("b")
        );
        // Items of a mapping that is not a list (no `kind: List` before
        // them) are never pruned.
        let text = "items:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s\n  stringData: {a: b}\n";
        let input = read_krm_for(text, &Limits::default(), Answer::InKind).expect("reads");
        assert!(
            input.items[0]
                .node
                .get("items")
                .is_some_and(|i| { i.as_seq().is_some_and(|s| s[0].get("stringData").is_some()) })
        );
    }

    #[test]
    fn detects_envelopes() {
        let l = Limits::default();
        let rl = read_krm(
            "apiVersion: config.kubernetes.io/v1alpha1\nkind: ResourceList\nitems: []\n",
            &l,
        )
        .expect("rl");
        assert!(
            matches!(rl.envelope, Envelope::ResourceList { ref api_version, .. } if api_version == "config.kubernetes.io/v1alpha1")
        );
        let json = read_krm(r#"{"kind":"List","apiVersion":"v1","items":[{"kind":"A","apiVersion":"v1","metadata":{"name":"x"}}]}"#, &l).expect("json");
        assert_eq!(json.items.len(), 1);
        let stream = read_krm("a: 1\n---\nb: 2\n", &l).expect("stream");
        assert_eq!(stream.envelope, Envelope::Stream);
        assert!(read_krm("", &l).is_err());
        assert!(read_krm("just a scalar\n", &l).is_err());
    }
}
