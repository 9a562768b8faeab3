//! The pure middle of the pipeline: items and config in, items and results
//! out. No I/O here.

pub mod components;
pub mod compose;
pub mod connections;
pub mod diag;
pub mod init;
pub mod job;
pub mod k8s;
pub mod params;
pub mod polyaxon;
pub mod template;
pub mod validate;

use std::collections::{HashMap, HashSet};

use crate::config::{self, Config, Mode};
use crate::results::{FileRef, Finding, ResourceRef, has_errors};
use crate::yaml::{Node, Value, Verbatim};
use diag::Diag;

pub const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";
pub const SOURCE: &str = "polyaxon-krm.dev/source";
pub const POLYAXONFILE: &str = "polyaxon-krm.dev/polyaxonfile";
pub const PATH: &str = "internal.config.kubernetes.io/path";
pub const LEGACY_PATH: &str = "config.kubernetes.io/path";
pub const INDEX: &str = "internal.config.kubernetes.io/index";
pub const LEGACY_INDEX: &str = "config.kubernetes.io/index";
/// kpt render's owning package; paths are relative to it, so a generated
/// object keeps its source's (or kpt writes it into the parent package).
pub const PACKAGE_PATH: &str = "internal.config.kubernetes.io/package-path";

/// Where an item came from when we read files ourselves (`render`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub path: String,
    /// 1-based document number within the file.
    pub document: usize,
    /// The document's bytes in its file, for byte-exact output of untouched documents.
    pub source: std::ops::Range<usize>,
}

#[derive(Clone, Debug)]
pub struct Item {
    pub node: Node,
    /// The input text that writes `node` exactly as read (see
    /// [`crate::yaml::Verbatim`]); carried to the output only by the paths
    /// that leave the node untouched.
    pub verbatim: Option<Verbatim>,
    pub origin: Option<Origin>,
    /// A Polyaxon file with no KRM envelope (only `render` reads these).
    pub raw_polyaxon: bool,
    /// For a Polyaxon file embedded in a ConfigMap: the ConfigMap's namespace.
    pub namespace: Option<String>,
}

impl Item {
    pub fn new(node: Node) -> Self {
        Item {
            namespace: None,
            node,
            verbatim: None,
            origin: None,
            raw_polyaxon: false,
        }
    }

    pub fn with_verbatim(mut self, verbatim: Option<Verbatim>) -> Self {
        self.verbatim = verbatim;
        self
    }
}

/// An object of the output, with the input text that writes it when it
/// passed through untouched.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputItem {
    pub node: Node,
    pub verbatim: Option<Verbatim>,
}

impl OutputItem {
    /// An object we made or changed: written from its tree.
    pub fn made(node: Node) -> Self {
        OutputItem {
            node,
            verbatim: None,
        }
    }

    /// An input item as it came in.
    pub fn unchanged(item: Item) -> Self {
        OutputItem {
            node: item.node,
            verbatim: item.verbatim,
        }
    }
}

#[derive(Debug, Default)]
pub struct Outcome {
    pub items: Vec<OutputItem>,
    pub results: Vec<Finding>,
}

impl Outcome {
    pub fn failed(&self) -> bool {
        has_errors(&self.results)
    }
}

fn meta<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.get_path(&["metadata", key]).and_then(Node::as_str)
}

pub fn annotation<'a>(node: &'a Node, key: &str) -> Option<&'a str> {
    node.get_path(&["metadata", "annotations", key])
        .and_then(Node::scalar_text)
}

fn set_annotation(node: &mut Node, key: &str, value: &str) {
    if let Some(annotations) = node
        .map_entry("metadata")
        .and_then(|m| m.map_entry("annotations"))
    {
        annotations.set(key, Node::string(value));
    }
}

fn type_of(node: &Node) -> (Option<&str>, Option<&str>) {
    (
        node.get("apiVersion").and_then(Node::as_str),
        node.get("kind").and_then(Node::as_str),
    )
}

pub fn resource_ref(node: &Node) -> Option<ResourceRef> {
    let (api, kind) = type_of(node);
    Some(ResourceRef {
        api_version: api?.to_string(),
        kind: kind?.to_string(),
        name: meta(node, "name").unwrap_or_default().to_string(),
        namespace: meta(node, "namespace").map(str::to_string),
    })
}

pub fn file_ref(item: &Item) -> Option<FileRef> {
    if let Some(origin) = &item.origin {
        return Some(FileRef {
            path: origin.path.clone(),
            index: origin.document.saturating_sub(1),
            document: Some(origin.document),
        });
    }
    let path = annotation(&item.node, PATH).or_else(|| annotation(&item.node, LEGACY_PATH))?;
    let index = annotation(&item.node, INDEX)
        .or_else(|| annotation(&item.node, LEGACY_INDEX))
        .and_then(|i| i.parse().ok())
        .unwrap_or(0);
    Some(FileRef {
        path: path.to_string(),
        index,
        document: None,
    })
}

/// Converts each Polyaxon file in the data of a ConfigMap annotated
/// `polyaxon-krm.dev/polyaxonfile: "true"` (what kustomize's
/// configMapGenerator makes from raw files). Findings point at `data.KEY`.
fn convert_config_map(
    item: &Item,
    config: &Config,
    components: &ComponentLookup<'_>,
) -> (Vec<Node>, Vec<Finding>) {
    let resource = resource_ref(&item.node);
    let file = file_ref(item);
    let mut objects = Vec::new();
    let mut findings = Vec::new();
    let data = item
        .node
        .get("data")
        .and_then(Node::as_map)
        .cloned()
        .unwrap_or_default();
    if data.is_empty() {
        findings.push(
            Finding::warning(
                "this ConfigMap is annotated as holding Polyaxon files but has no data",
            )
            .at("data")
            .on(resource.clone(), file.clone()),
        );
    }
    for (key, value) in &data {
        let key = key.scalar_text().unwrap_or_default().to_string();
        let at = diag::child("data", &key);
        let fail = |message: String| {
            Finding::error(message)
                .at(at.clone())
                .on(resource.clone(), file.clone())
        };
        let Some(text) = value.as_str() else {
            findings.push(fail("expected a Polyaxon file as text".into()));
            continue;
        };
        let root = match crate::yaml::parse_stream(text, &crate::yaml::Limits::default()) {
            Ok(docs) => {
                let mut roots: Vec<Node> = docs
                    .into_iter()
                    .filter_map(|d| d.root)
                    .filter(|r| !r.is_null())
                    .collect();
                match (roots.pop(), roots.is_empty()) {
                    (Some(root), true) if root.as_map().is_some() => root,
                    _ => {
                        findings.push(fail(
                            "expected one Polyaxon file (a mapping) under this key".into(),
                        ));
                        continue;
                    }
                }
            }
            Err(e) => {
                findings.push(fail(format!("{}: {e}", e.what())));
                continue;
            }
        };
        let embedded = Item {
            node: root,
            verbatim: None,
            origin: Some(Origin {
                path: key.clone(),
                document: 1,
                source: 0..0,
            }),
            raw_polyaxon: true,
            namespace: meta(&item.node, "namespace").map(str::to_string),
        };
        let (produced, diag) = convert_one(&embedded, config, components);
        for f in diag.findings {
            let message = match &f.field {
                Some(inner) => format!("{inner}: {}", f.message),
                None => f.message.clone(),
            };
            findings.push(
                Finding {
                    field: Some(at.clone()),
                    message,
                    ..f
                }
                .on(resource.clone(), file.clone()),
            );
        }
        objects.extend(produced.into_iter().flatten());
    }
    (objects, findings)
}

/// `KIND/NAMESPACE/NAME`, the value of the source annotation.
fn source_id(kind: &str, namespace: Option<&str>, name: &str) -> String {
    format!("{kind}/{}/{name}", namespace.unwrap_or_default())
}

enum Role {
    Operation,
    /// Our group with a version or kind we do not know: a typo to report.
    Misspelled(String),
    LocalConfig,
    PolyaxonfileConfigMap,
    Generated(String),
    Raw,
    Other,
}

/// An object the conversion only passes on: it reads no more of it than its
/// identity (kind, name, namespace, labels, annotations), so its tree may be
/// pruned to that while it is read (see [`crate::yaml::parse_stream_pruning`]).
pub fn passes_through(node: &Node) -> bool {
    matches!(role_of(node), Role::Other)
        && node.get("apiVersion").is_some()
        && !matches!(
            node.get("kind").and_then(Node::scalar_text),
            None | Some("ResourceList" | "List")
        )
}

fn role(item: &Item) -> Role {
    if item.raw_polyaxon {
        return Role::Raw;
    }
    role_of(&item.node)
}

fn role_of(node: &Node) -> Role {
    // Only what we write counts as ours: a Job, CronJob or ConfigMap with our
    // managed-by label. Anyone else's item with the annotation is kept.
    if let Some(source) = annotation(node, SOURCE)
        && matches!(
            type_of(node),
            (Some("batch/v1"), Some("Job" | "CronJob")) | (Some("v1"), Some("ConfigMap"))
        )
        && node
            .get_path(&["metadata", "labels", job::MANAGED_BY])
            .and_then(Node::scalar_text)
            == Some(job::TOOL)
    {
        return Role::Generated(source.to_string());
    }
    match type_of(node) {
        (Some(config::GROUP_VERSION), Some("PolyaxonOperation")) => Role::Operation,
        (Some(config::GROUP_VERSION), Some("PolyaxonComponent" | "RenderPolyaxon")) => {
            Role::LocalConfig
        }
        (Some(api), Some(kind)) if api.starts_with("polyaxon-krm.dev/") => {
            Role::Misspelled(format!("{api}/{kind}"))
        }
        (Some("v1"), Some("ConfigMap")) if annotation(node, POLYAXONFILE) == Some("true") => {
            Role::PolyaxonfileConfigMap
        }
        _ => Role::Other,
    }
}

/// Annotations of the source that belong to the orchestrators, not the user.
fn is_orchestrator_annotation(key: &str) -> bool {
    key.starts_with("config.kubernetes.io/")
        || key.starts_with("internal.config.kubernetes.io/")
        || key.starts_with("config.k8s.io/")
        || key.starts_with("internal.config.k8s.io/")
        || key.starts_with("kustomize.config.k8s.io/")
        || key == "kubectl.kubernetes.io/last-applied-configuration"
}

/// Converts every Polyaxon item. On any error the items come back unchanged.
pub fn convert(items: Vec<Item>, config: &Config) -> Outcome {
    let mut results = Vec::new();
    let roles: Vec<Role> = items.iter().map(role).collect();
    let sources: HashSet<String> = items
        .iter()
        .zip(&roles)
        .filter_map(|(i, role)| {
            match role {
                Role::Operation => Some("PolyaxonOperation"),
                Role::PolyaxonfileConfigMap => Some("ConfigMap"),
                _ => None,
            }
            .map(|kind| {
                source_id(
                    kind,
                    meta(&i.node, "namespace"),
                    meta(&i.node, "name").unwrap_or_default(),
                )
            })
        })
        .collect();
    let catalog = components::Catalog::of(&items);
    let lookup = |kind: &str, value: &str| {
        catalog
            .find(kind, value)
            .map(|(_, node, desc)| (node, desc))
    };
    // Raw Polyaxon components that an operation references are components,
    // not runs of their own.
    let skipped: HashSet<usize> = catalog.referenced_raw(&items);
    let mut converted = convert_operations(
        &items,
        &roles,
        &skipped,
        config,
        &lookup,
        OPERATIONS_FOR_TWO_THREADS,
    )
    .into_iter();
    // First decide what becomes of each item, reading only: on any error the
    // items go back as they came, without a copy of them ever being made.
    let mut plans: Vec<Plan> = Vec::with_capacity(items.len());
    for ((position, item), role) in items.iter().enumerate().zip(roles) {
        let plan = match role {
            Role::Generated(source) if sources.contains(&source) => Plan::Drop,
            Role::Generated(source) => {
                // Its operation was deleted or renamed, or (kpt selectors) not sent.
                let resource = resource_ref(&item.node);
                if config.output.prune {
                    results.push(
                        Finding::info(format!("generated from {source}, which is not in the input: removed (output.prune)"))
                            .on(resource, file_ref(item)),
                    );
                    Plan::Drop
                } else {
                    results.push(
                        Finding::warning(format!(
                            "generated from {source}, which is not in the input: kept; delete it if the operation was removed or renamed (or set output.prune: true)"
                        ))
                        .on(resource, file_ref(item)),
                    );
                    Plan::Keep
                }
            }
            Role::Other => Plan::Keep,
            Role::Misspelled(what) => {
                results.push(misspelled(&what, item));
                Plan::Keep
            }
            Role::LocalConfig => Plan::MarkLocal,
            Role::PolyaxonfileConfigMap => {
                let (objects, findings) = convert_config_map(item, config, &lookup);
                results.extend(findings);
                Plan::Beside("ConfigMap", objects)
            }
            Role::Operation | Role::Raw if skipped.contains(&position) => Plan::Drop,
            Role::Operation | Role::Raw => {
                let Some((job, diag)) = converted.next() else {
                    unreachable!("convert_operations converts every operation")
                };
                let resource = resource_ref(&item.node).or_else(|| raw_ref(item));
                let file = file_ref(item);
                results.extend(
                    diag.findings
                        .into_iter()
                        .map(|f| f.on(resource.clone(), file.clone())),
                );
                match job {
                    None if item.raw_polyaxon => Plan::Drop,
                    None => Plan::Keep,
                    Some(objects) if item.raw_polyaxon => Plan::Instead(objects),
                    Some(mut objects) if config.output.mode == Mode::Replace => {
                        // The workload takes the source's place, file and id.
                        carry_annotations(&item.node, &mut objects[0], true);
                        Plan::Replace(objects)
                    }
                    Some(objects) => Plan::Beside("PolyaxonOperation", objects),
                }
            }
        };
        plans.push(plan);
    }
    let view: Vec<&Node> = items
        .iter()
        .zip(&plans)
        .flat_map(|(item, plan)| {
            let source = matches!(plan, Plan::Keep | Plan::MarkLocal | Plan::Beside(..))
                .then_some(&item.node);
            let made: &[Node] = match plan {
                Plan::Beside(_, objects) | Plan::Replace(objects) | Plan::Instead(objects) => {
                    objects
                }
                _ => &[],
            };
            source.into_iter().chain(made)
        })
        .collect();
    results.extend(duplicate_objects(&view));
    if has_errors(&results) {
        return Outcome {
            items: items
                .into_iter()
                .filter(|i| !i.raw_polyaxon)
                .map(OutputItem::unchanged)
                .collect(),
            results,
        };
    }

    // Then build the output by moving the items.
    let mut out: Vec<OutputItem> = Vec::with_capacity(view.len());
    // (index in `out`, source path, whether the path is derived from it) of
    // each generated object, for file layout.
    let mut generated: Vec<(usize, String, bool)> = Vec::new();
    for (item, plan) in items.into_iter().zip(plans) {
        match plan {
            Plan::Drop => {}
            Plan::Keep => out.push(OutputItem::unchanged(item)),
            Plan::MarkLocal => out.push(mark_local(item)),
            Plan::Instead(objects) => out.extend(objects.into_iter().map(OutputItem::made)),
            Plan::Replace(objects) => {
                let source_path = annotation(&item.node, PATH)
                    .or_else(|| annotation(&item.node, LEGACY_PATH))
                    .map(str::to_string);
                let mut objects = objects.into_iter();
                out.extend(objects.next().map(OutputItem::made));
                for extra in objects {
                    if let Some(path) = &source_path {
                        generated.push((out.len(), path.clone(), false));
                    }
                    out.push(OutputItem::made(extra));
                }
            }
            Plan::Beside(kind, objects) => {
                emit_beside(&mut out, &mut generated, item, kind, objects)
            }
        }
    }
    lay_out_files(&mut out, &generated, &config.output.path);
    Outcome {
        items: out,
        results,
    }
}

/// What becomes of one input item.
enum Plan {
    Drop,
    Keep,
    MarkLocal,
    /// The source stays (local-config) and these follow it.
    Beside(&'static str, Vec<Node>),
    /// These take the source's place (`output.mode: replace`).
    Replace(Vec<Node>),
    /// A raw Polyaxon file (render): these instead of it.
    Instead(Vec<Node>),
}

/// Our group with a version or kind we do not know.
fn misspelled(what: &str, item: &Item) -> Finding {
    let kinds = ["PolyaxonOperation", "PolyaxonComponent", "RenderPolyaxon"];
    let kind = what.rsplit('/').next().unwrap_or_default();
    let hint = crate::results::did_you_mean(kind, kinds)
        .map(|k| format!("; did you mean {}/{k}?", config::GROUP_VERSION))
        .unwrap_or_else(|| {
            format!(
                "; known: {} with {}",
                kinds.join(", "),
                config::GROUP_VERSION
            )
        });
    let field = if kinds.contains(&kind) {
        "apiVersion"
    } else {
        "kind"
    };
    Finding::error(format!("{what} is not a kind polyaxon-krm knows{hint}"))
        .at(field)
        .on(resource_ref(&item.node), file_ref(item))
}

/// Two objects of one kind, namespace and name, at least one of them ours:
/// the API server would keep only one.
fn duplicate_objects<'a>(out: &[&'a Node]) -> Vec<Finding> {
    let ours = |n: &Node| {
        n.get_path(&["metadata", "labels", job::MANAGED_BY])
            .and_then(Node::scalar_text)
            == Some(job::TOOL)
    };
    let key = |n: &'a Node| {
        (
            n.get("kind")
                .and_then(Node::scalar_text)
                .unwrap_or_default(),
            meta(n, "namespace").unwrap_or_default(),
            meta(n, "name").unwrap_or_default(),
        )
    };
    let mut seen: HashMap<(&str, &str, &str), &Node> = HashMap::with_capacity(out.len());
    let mut findings = Vec::new();
    for node in out {
        let k = key(node);
        if let Some(first) = seen.get(&k) {
            if ours(node) || ours(first) {
                let shown = if k.1.is_empty() {
                    k.2.to_string()
                } else {
                    format!("{}/{}", k.1, k.2)
                };
                let from = |n: &Node| {
                    annotation(n, SOURCE)
                        .map(str::to_string)
                        .unwrap_or_else(|| "an input item".into())
                };
                findings.push(
                    Finding::error(format!(
                        "two {} objects named {shown}: from {} and from {}; rename one operation",
                        k.0,
                        from(first),
                        from(node)
                    ))
                    .on(resource_ref(node), None),
                );
            }
        } else {
            seen.insert(k, node);
        }
    }
    findings
}

/// Generate mode: the source stays, marked local-config, and the objects
/// made from it follow it, each annotated with its source (and its kpt
/// package), to be laid out in the derived file.
fn emit_beside(
    out: &mut Vec<OutputItem>,
    generated: &mut Vec<(usize, String, bool)>,
    source: Item,
    kind: &str,
    objects: Vec<Node>,
) {
    let source = mark_local(source);
    let id = source_id(
        kind,
        meta(&source.node, "namespace"),
        meta(&source.node, "name").unwrap_or_default(),
    );
    let source_path = annotation(&source.node, PATH)
        .or_else(|| annotation(&source.node, LEGACY_PATH))
        .map(str::to_string);
    let package = annotation(&source.node, PACKAGE_PATH).map(str::to_string);
    out.push(source);
    for mut object in objects {
        set_annotation(&mut object, SOURCE, &id);
        if let Some(package) = &package {
            set_annotation(&mut object, PACKAGE_PATH, package);
        }
        if let Some(path) = &source_path {
            generated.push((out.len(), path.clone(), true));
        }
        out.push(OutputItem::made(object));
    }
}

/// The source marked local-config (kpt and kustomize then leave it out of
/// what they apply); its text still writes it when the mark was there.
fn mark_local(item: Item) -> OutputItem {
    if annotation(&item.node, LOCAL_CONFIG) == Some("true") {
        return OutputItem::unchanged(item);
    }
    let mut node = item.node;
    set_annotation(&mut node, LOCAL_CONFIG, "true");
    OutputItem::made(node)
}

/// Gives each generated object a file (from the output path template) and an
/// index after whatever else that file already holds.
fn lay_out_files(out: &mut [OutputItem], generated: &[(usize, String, bool)], template: &str) {
    // Where each generated object goes: (its index in `out`, package, path).
    let targets: Vec<(usize, String, String)> = generated
        .iter()
        .filter_map(|(at, source_path, derive)| {
            let node = &out.get(*at)?.node;
            let package = annotation(node, PACKAGE_PATH).unwrap_or_default();
            let path = if *derive {
                config::generated_path(
                    template,
                    source_path,
                    meta(node, "name").unwrap_or_default(),
                    node.get("kind").and_then(Node::as_str).unwrap_or_default(),
                    meta(node, "namespace").unwrap_or_default(),
                )
            } else {
                source_path.clone()
            };
            // Names fill the template: never let them lead out of the package.
            let path = if path.split('/').any(|p| p == "..") || path.is_empty() {
                source_path.clone()
            } else {
                path
            };
            Some((*at, package.to_string(), path))
        })
        .collect();
    if targets.is_empty() {
        return;
    }
    // The next free index of each target file, after what the input already
    // puts there. Keyed by path, then package: kpt render sends
    // subpackages' items with paths relative to their own package.
    let mut next_index: HashMap<&str, Vec<(&str, usize)>> = HashMap::new();
    for (_, package, path) in &targets {
        let packages = next_index.entry(path.as_str()).or_default();
        if !packages.iter().any(|(p, _)| p == package) {
            packages.push((package.as_str(), 0));
        }
    }
    let generated_at: HashSet<usize> = targets.iter().map(|(i, _, _)| *i).collect();
    for (i, OutputItem { node, .. }) in out.iter().enumerate() {
        if generated_at.contains(&i) {
            continue;
        }
        let Some(path) = annotation(node, PATH).or_else(|| annotation(node, LEGACY_PATH)) else {
            continue;
        };
        let Some(packages) = next_index.get_mut(path) else {
            continue;
        };
        let package = annotation(node, PACKAGE_PATH).unwrap_or_default();
        if let Some((_, slot)) = packages.iter_mut().find(|(p, _)| *p == package) {
            let index = annotation(node, INDEX)
                .or_else(|| annotation(node, LEGACY_INDEX))
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(0);
            *slot = (*slot).max(index + 1);
        }
    }
    for (at, package, path) in &targets {
        let slot = next_index
            .get_mut(path.as_str())
            .and_then(|packages| packages.iter_mut().find(|(p, _)| p == package))
            .map(|(_, slot)| slot);
        let Some(slot) = slot else {
            continue;
        };
        let index = slot.to_string();
        *slot += 1;
        let Some(OutputItem {
            node,
            verbatim: None,
        }) = out.get_mut(*at)
        else {
            continue;
        };
        for key in [PATH, LEGACY_PATH] {
            set_annotation(node, key, path);
        }
        for key in [INDEX, LEGACY_INDEX] {
            set_annotation(node, key, &index);
        }
    }
}

/// Copies the source's annotations onto its workload: the user's always, the
/// orchestrators' (path, index, id) only when the workload replaces the source.
fn carry_annotations(source: &Node, job: &mut Node, with_orchestrator: bool) {
    let Some(entries) = source
        .get_path(&["metadata", "annotations"])
        .and_then(Node::as_map)
    else {
        return;
    };
    for (k, v) in entries {
        let Some(key) = k.scalar_text() else { continue };
        if key == LOCAL_CONFIG || key == "config.kubernetes.io/function" {
            continue;
        }
        if is_orchestrator_annotation(key) && !with_orchestrator {
            continue;
        }
        if let Some(annotations) = job
            .map_entry("metadata")
            .and_then(|m| m.map_entry("annotations"))
        {
            annotations.set(key, v.clone());
        }
    }
}

fn raw_ref(item: &Item) -> Option<ResourceRef> {
    Some(ResourceRef {
        api_version: "polyaxon".into(),
        kind: item
            .node
            .get("kind")
            .and_then(Node::as_str)
            .unwrap_or("component")
            .to_string(),
        name: raw_name(item),
        namespace: None,
    })
}

/// The name of a raw Polyaxon document: its `name`, else the file stem.
fn raw_name(item: &Item) -> String {
    match item.node.get("name").and_then(Node::scalar_text) {
        Some(n) => n.to_string(),
        None => item
            .origin
            .as_ref()
            .and_then(|o| o.path.rsplit('/').next())
            .map(|f| f.split('.').next().unwrap_or(f).to_string())
            .unwrap_or_default(),
    }
}

/// A valid Job name from a Polyaxon name: lowercase, `_` → `-`.
fn job_name_from(polyaxon_name: &str) -> String {
    polyaxon_name.to_ascii_lowercase().replace('_', "-")
}

/// From this many operations on, a second thread converts half of them.
const OPERATIONS_FOR_TWO_THREADS: usize = 16;

/// [`convert_one`] for each operation that is converted, in order: on two
/// threads from `min_for_two_threads` operations on.
fn convert_operations(
    items: &[Item],
    roles: &[Role],
    skipped: &HashSet<usize>,
    config: &Config,
    components: &ComponentLookup<'_>,
    min_for_two_threads: usize,
) -> Vec<(Option<Vec<Node>>, Diag)> {
    let operations: Vec<&Item> = items
        .iter()
        .zip(roles)
        .enumerate()
        .filter(|(position, (_, role))| {
            matches!(role, Role::Operation | Role::Raw) && !skipped.contains(position)
        })
        .map(|(_, (item, _))| item)
        .collect();
    let convert_all = |items: &[&Item]| -> Vec<(Option<Vec<Node>>, Diag)> {
        items
            .iter()
            .map(|item| convert_one(item, config, components))
            .collect()
    };
    if operations.len() < min_for_two_threads.max(2) {
        return convert_all(&operations);
    }
    let (first, second) = operations.split_at(operations.len() / 2);
    let (mut all, rest) = crate::parallel::join(|| convert_all(first), || convert_all(second));
    all.extend(rest);
    all
}

fn convert_one(
    item: &Item,
    config: &Config,
    components: &ComponentLookup<'_>,
) -> (Option<Vec<Node>>, Diag) {
    let mut diag = Diag::default();
    let node = &item.node;
    // Named beforehand for the message of a template that runs out of memory
    // (`crate::template_guard`), in the words of a finding's stderr line.
    let resource = resource_ref(node).or_else(|| raw_ref(item));
    let file = file_ref(item);
    crate::template_guard::converting(
        format_args!("{}", resource.map(|r| format!("{r} ")).unwrap_or_default()),
        format_args!("{}", file.map(|f| format!(" ({f})")).unwrap_or_default()),
    );
    let (spec, spec_path) = if item.raw_polyaxon {
        (Some(node), "")
    } else {
        (node.get("spec"), "spec")
    };
    // Merge keys are applied before anything reads the file: a `<<` must
    // not carry a field past the checks that the same field written out meets.
    let expanded;
    let spec = match spec {
        Some(spec) if spec.has_merge_keys() => {
            let mut copy = spec.clone();
            copy.expand_merge_keys();
            expanded = copy;
            Some(&expanded)
        }
        spec => spec,
    };
    let Some(spec) = spec else {
        diag.error(
            "spec",
            "a PolyaxonOperation needs a spec: the Polyaxon file",
        );
        return (None, diag);
    };
    let name = if item.raw_polyaxon {
        let raw = raw_name(item);
        let name = job_name_from(&raw);
        if name != raw {
            diag.warning(
                "name",
                format!("the Polyaxon name \"{raw}\" becomes the Job name \"{name}\""),
            );
        }
        name
    } else {
        meta(node, "name").unwrap_or_default().to_string()
    };
    let name_path = if item.raw_polyaxon {
        "name"
    } else {
        "metadata.name"
    };
    if let Err(e) = validate::dns_label(&name) {
        diag.error(name_path, format!("the Job name \"{name}\" {e}"));
    } // A CronJob's Jobs are named NAME-<11 digits>, within 63 characters.
    if spec.get("schedule").is_some_and(|n| !n.is_null()) && name.len() > 52 {
        diag.error(
            name_path,
            format!("the CronJob name \"{name}\" is longer than 52 characters"),
        );
    }

    let wrapper_ns = if item.raw_polyaxon {
        item.namespace.as_deref()
    } else {
        meta(node, "namespace")
    };
    let globals_ns = wrapper_ns
        .or_else(|| spec.get("namespace").and_then(Node::as_str))
        .or(config.defaults.namespace.as_deref());
    let sources = polyaxon::Sources {
        catalog: &config.connections,
        template_connections: &config.template_connections,
        invalid_connections: &config.invalid_connections,
        catalog_unreadable: config.catalog_unreadable,
        presets: config.presets.as_ref(),
        globals: params::Globals {
            name: &name,
            namespace: globals_ns,
            defaults: &config.params,
            extra: &config.globals,
        },
        components,
    };
    let job = polyaxon::read(spec, spec_path, &sources, &mut diag);
    let spec_ns = job.as_ref().and_then(|j| j.namespace.clone());
    let spec_ns = spec_ns.as_deref();
    if let (Some(a), Some(b)) = (wrapper_ns, spec_ns)
        && a != b
    {
        diag.error(
            diag::child(spec_path, "namespace"),
            format!("namespace \"{b}\" differs from metadata.namespace \"{a}\""),
        );
    }
    let namespace = wrapper_ns
        .or(spec_ns)
        .or(config.defaults.namespace.as_deref())
        .map(str::to_string);
    if let Some(ns) = &namespace
        && let Err(e) = validate::dns_label(ns)
    {
        let at = if wrapper_ns.is_some() {
            "metadata.namespace"
        } else {
            spec_path
        };
        diag.error(at, format!("namespace \"{ns}\" {e}"));
    }

    // Wire connections and check the pod even after an error, so one run
    // reports every problem.
    // A run that was not read as a job (another kind, no run) has no pod to check.
    let Some(mut job) = job.filter(|j| !j.run_path.is_empty()) else {
        return (None, diag);
    };
    let git_image = config
        .init
        .as_ref()
        .and_then(|i| i.get("gitImage"))
        .and_then(Node::as_str)
        .unwrap_or(init::DEFAULT_GIT_IMAGE);
    job::mount_shm(&mut job);
    polyaxon::apply_handlers(&mut job, &sources, git_image, &mut diag);
    let written = WrittenCounts::of(&job);
    let applied = connections::apply(&mut job, config, &mut diag);
    validate::pod_references(&job, &mut diag);
    if diag.has_errors() {
        return (None, diag);
    }
    let labels: Vec<(Node, Node)> = if item.raw_polyaxon {
        Vec::new()
    } else {
        node.get_path(&["metadata", "labels"])
            .and_then(Node::as_map)
            .cloned()
            .unwrap_or_default()
    };
    let annotations: Vec<(Node, Node)> = if item.raw_polyaxon {
        Vec::new()
    } else {
        node.get_path(&["metadata", "annotations"])
            .and_then(Node::as_map)
            .into_iter()
            .flatten()
            .filter(|(k, _)| {
                k.scalar_text()
                    .is_some_and(|k| !is_orchestrator_annotation(k) && k != SOURCE)
            })
            .cloned()
            .collect()
    };
    let target = job::Target {
        name: &name,
        namespace: namespace.as_deref(),
        labels: &labels,
        annotations: &annotations,
    };
    let built = job::build(&job, &target, &config.defaults);
    let pod = built
        .get_path(&["spec", "template", "spec"])
        .or_else(|| built.get_path(&["spec", "jobTemplate", "spec", "template", "spec"]))
        .cloned()
        .unwrap_or_default();
    let policy = config.policy.clone().unwrap_or_default();
    for violation in crate::policy::check(&policy, namespace.as_deref(), &pod, &applied.kinds) {
        let (at, origin) = match &violation.connection {
            Some(name) => (
                connection_path(&job, name).unwrap_or_else(|| spec_path.to_string()),
                String::new(),
            ),
            None => written.source_of(violation.at.as_ref(), &job, spec_path),
        };
        diag.error(&at, format!("policy: {}{origin}", violation.message));
    }
    if diag.has_errors() {
        return (None, diag);
    }
    if let Err(e) = job::check(&built) {
        diag.error(
            spec_path,
            format!("the generated Job is not a valid batch/v1 Job: {e}"),
        );
        return (None, diag);
    }
    let mut objects = vec![built];
    objects.extend(job.config_maps.iter().map(|(cm_name, data)| {
        let mut metadata = Node::map();
        metadata.set("name", Node::string(cm_name));
        if let Some(ns) = &namespace {
            metadata.set("namespace", Node::string(ns));
        }
        let mut labels = Node::map();
        labels.set(job::MANAGED_BY, Node::string(job::TOOL));
        labels.set(job::APP_NAME, Node::string(&name));
        metadata.set("labels", labels);
        let mut entries = Node::map();
        for (k, v) in data {
            entries.set(
                k,
                Node::new(crate::yaml::Value::Scalar(crate::yaml::Scalar {
                    text: v.clone(),
                    style: crate::yaml::Style::Literal,
                    tag: None,
                })),
            );
        }
        let mut cm = Node::map();
        cm.set("apiVersion", Node::string("v1"));
        cm.set("kind", Node::string("ConfigMap"));
        cm.set("metadata", metadata);
        cm.set("data", entries);
        cm
    }));
    (Some(objects), diag)
}

pub type ComponentLookup<'a> = dyn Fn(&str, &str) -> Result<(Node, String), String> + Sync + 'a;

/// Where the operation names a connection (`spec.run.connections[1]`).
fn connection_path(job: &polyaxon::JobSpec, name: &str) -> Option<String> {
    job.connection_refs
        .iter()
        .chain(job.init_connections.iter().flatten())
        .find(|(n, _)| n == name)
        .map(|(_, path)| path.clone())
}

/// How many env/envFrom entries and volumes the author wrote, so a policy
/// finding on the finished pod can point back at the Polyaxon file.
struct WrittenCounts {
    /// (env, envFrom) per container: main, sidecars..., then init containers.
    containers: Vec<(usize, usize)>,
    inits: Vec<(usize, usize)>,
    volumes: usize,
}

impl WrittenCounts {
    fn of(job: &polyaxon::JobSpec) -> Self {
        let counts = |c: &Node| {
            let len = |k| c.get(k).and_then(Node::as_seq).map_or(0, Vec::len);
            (len("env"), len("envFrom"))
        };
        let mut containers = vec![counts(&job.container)];
        containers.extend(job.sidecars.iter().map(counts));
        WrittenCounts {
            containers,
            inits: job.init_containers.iter().map(counts).collect(),
            volumes: job.volumes.len(),
        }
    }

    /// The field path in the source, and a note when connections added it.
    fn source_of(
        &self,
        at: Option<&crate::policy::Location>,
        job: &polyaxon::JobSpec,
        spec_path: &str,
    ) -> (String, String) {
        let Some(at) = at else {
            return (spec_path.to_string(), String::new());
        };
        let run = &job.run_path;
        let from_connections = || {
            (
                diag::child(run, "connections"),
                format!(" (added by a connection; pod {at})"),
            )
        };
        match (at.container, at.field) {
            (None, "volumes") if at.index < self.volumes => {
                (format!("{run}.volumes[{}]", at.index), String::new())
            }
            (None, "imagePullSecrets") => (
                format!("{run}.environment.imagePullSecrets[{}]", at.index),
                String::new(),
            ),
            (None, _) => from_connections(),
            (Some((list, i)), field) => {
                let (counts, path) = if list == "containers" {
                    let path = if i == 0 {
                        diag::child(run, "container")
                    } else {
                        format!("{run}.sidecars[{}]", i - 1)
                    };
                    (self.containers.get(i), path)
                } else {
                    (
                        self.inits.get(i),
                        job.init_paths.get(i).cloned().unwrap_or_default(),
                    )
                };
                let written =
                    counts.map_or(0, |(env, from)| if field == "env" { *env } else { *from });
                if at.index < written {
                    (format!("{path}.{field}[{}]", at.index), String::new())
                } else {
                    from_connections()
                }
            }
        }
    }
}

/// Is this node an empty placeholder (a `~` document)?
pub fn is_empty_document(node: &Node) -> bool {
    matches!(&node.value, Value::Scalar(_)) && node.is_null()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_converted_on_two_threads_are_those_converted_on_one() {
        let seed = include_str!("../../examples/seed/resource-list.yaml");
        let op = &seed[seed.find("- apiVersion").expect("an item")..];
        let mut text =
            String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
        for i in 0..20 {
            let mut item = op.replace("name: mount-secrets", &format!("name: op-{i}"));
            if i % 3 == 0 {
                // A leniency warning, so findings are compared too.
                item = item.replace("    run:\n", "    run:\n      kind_: x\n");
            }
            text.push_str(&item);
        }
        let items = crate::read::read_krm(&text, &crate::yaml::Limits::default())
            .expect("reads")
            .items;
        let roles: Vec<Role> = items.iter().map(role).collect();
        let config = Config::default();
        let lookup = |_: &str, _: &str| Err("no components here".to_string());
        let run = |min: usize| -> Vec<(Option<Vec<Node>>, Vec<Finding>)> {
            convert_operations(&items, &roles, &HashSet::new(), &config, &lookup, min)
                .into_iter()
                .map(|(job, diag)| (job, diag.findings))
                .collect()
        };
        let one = run(usize::MAX);
        assert_eq!(one.len(), 20);
        assert!(
            one.iter().filter(|(job, _)| job.is_some()).count() >= 13,
            "{one:?}"
        );
        assert!(one.iter().any(|(_, findings)| !findings.is_empty()));
        for min in [0, 2, 19, 20] {
            assert!(run(min) == one, "min {min}");
        }
    }
}
