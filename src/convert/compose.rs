//! Composition of a Polyaxon file's layers, as Polyaxon compiles them
//! (polyaxon-mapping.md §9): the component, the operation's own fields, its
//! top-level shortcuts, its `runPatch`, then each preset, each applied with
//! its `patchStrategy`. One deliberate difference (§12.8): `command` and
//! `args` lists are replaced, never merged element-wise, so
//! `[python, a.py]` + `[python, b.py]` runs `python b.py`.

use super::diag::{Diag, child};
use crate::yaml::{Node, Resolved, Value};
use std::collections::{HashMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Strategy {
    #[default]
    PostMerge,
    PreMerge,
    Replace,
    IsNull,
}

impl Strategy {
    pub fn read(node: Option<&Node>, path: &str, diag: &mut Diag) -> Strategy {
        match node.and_then(Node::scalar_text) {
            None | Some("post_merge") => Strategy::PostMerge,
            Some("pre_merge") => Strategy::PreMerge,
            Some("replace") => Strategy::Replace,
            Some("isnull") => Strategy::IsNull,
            Some(other) => {
                diag.error(
                    path,
                    format!(
                        "patchStrategy \"{other}\" must be post_merge, pre_merge, replace or isnull"
                    ),
                );
                Strategy::PostMerge
            }
        }
    }
}

/// Fields whose lists are replaced rather than merged.
fn replaces_whole(key: &str) -> bool {
    matches!(key, "command" | "args")
}

/// Merges `patch` into `current` (both any node) with the strategy's rules.
fn merge(current: &Node, patch: &Node, strategy: Strategy, key: &str) -> Node {
    match strategy {
        Strategy::Replace => return patch.clone(),
        Strategy::IsNull => {
            return if current.is_null() {
                patch.clone()
            } else {
                current.clone()
            };
        }
        Strategy::PostMerge | Strategy::PreMerge => {}
    }
    let patch_wins = strategy == Strategy::PostMerge;
    if current.is_null() {
        return patch.clone();
    }
    if patch.is_null() {
        return current.clone();
    }
    match (&current.value, &patch.value) {
        (Value::Map(cur, tag), Value::Map(pat, _)) => {
            let mut out: Vec<(Node, Node)> = Vec::new();
            let (first, second) = if patch_wins { (cur, pat) } else { (pat, cur) };
            // Keys found through maps, not a scan per key: a patch may be large.
            let mut in_second: HashMap<Option<&str>, &Node> = HashMap::with_capacity(second.len());
            for (k, v) in second {
                in_second.entry(k.scalar_text()).or_insert(v);
            }
            let in_first: HashSet<Option<&str>> =
                first.iter().map(|(k, _)| k.scalar_text()).collect();
            for (k, v) in first {
                let other = in_second.get(&k.scalar_text()).copied();
                let merged = match other {
                    Some(o) => {
                        let (c, p) = if patch_wins { (v, o) } else { (o, v) };
                        merge(c, p, strategy, k.scalar_text().unwrap_or_default())
                    }
                    None => v.clone(),
                };
                out.push((k.clone(), merged));
            }
            for (k, v) in second {
                if !in_first.contains(&k.scalar_text()) {
                    out.push((k.clone(), v.clone()));
                }
            }
            Node::new(Value::Map(out, tag.clone())).with_line(current.line)
        }
        (Value::Seq(cur, tag), Value::Seq(pat, _)) => {
            if replaces_whole(key) {
                return if patch_wins {
                    patch.clone()
                } else {
                    current.clone()
                };
            }
            let (first, second) = if patch_wins { (cur, pat) } else { (pat, cur) };
            let mut out = first.clone();
            // Each item's meaning made once and bucketed by a hash of it, not
            // compared with every item of the other list.
            let mut known: HashMap<u64, Vec<serde_json::Value>> = HashMap::new();
            for item in first {
                let meaning = crate::yaml::to_json(item);
                known
                    .entry(meaning_hash(&meaning))
                    .or_default()
                    .push(meaning);
            }
            for item in second {
                let meaning = crate::yaml::to_json(item);
                if !known
                    .get(&meaning_hash(&meaning))
                    .is_some_and(|bucket| bucket.contains(&meaning))
                {
                    out.push(item.clone());
                }
            }
            Node::new(Value::Seq(out, tag.clone())).with_line(current.line)
        }
        _ => {
            if patch_wins {
                patch.clone()
            } else {
                current.clone()
            }
        }
    }
}

/// A hash of a value's meaning (what Polyaxon's `x not in current`
/// compares): equal values hash alike, so a mapping's entries are combined
/// without their order.
fn meaning_hash(value: &serde_json::Value) -> u64 {
    use serde_json::Value as J;
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    match value {
        J::Null => 0u8.hash(&mut hasher),
        J::Bool(b) => (1u8, b).hash(&mut hasher),
        J::Number(n) => (2u8, n.to_string()).hash(&mut hasher),
        J::String(s) => (3u8, s).hash(&mut hasher),
        J::Array(items) => {
            4u8.hash(&mut hasher);
            for item in items {
                meaning_hash(item).hash(&mut hasher);
            }
        }
        J::Object(entries) => {
            5u8.hash(&mut hasher);
            let mut sum = 0u64;
            for (k, v) in entries {
                let mut entry = DefaultHasher::new();
                (k, meaning_hash(v)).hash(&mut entry);
                sum = sum.wrapping_add(entry.finish());
            }
            sum.hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// Sets `key` of the mapping `target` from `value` by the strategy.
pub fn apply_field(target: &mut Node, key: &str, value: &Node, strategy: Strategy) {
    if target.as_map().is_none() {
        *target = Node::map();
    }
    let merged = match target.get(key) {
        Some(current) => merge(current, value, strategy, key),
        None => value.clone(),
    };
    target.set(key, merged);
}

/// Patches a `run` section: `container` and `environment` field by field
/// (so `replace` replaces `container.env` and keeps `container.image`), every
/// other field as a whole.
pub fn patch_run(run: &mut Node, patch: &Node, strategy: Strategy) {
    let Some(entries) = patch.as_map() else {
        return;
    };
    if run.as_map().is_none() {
        *run = Node::map();
    }
    for (k, v) in entries {
        let key = k.scalar_text().unwrap_or_default();
        match key {
            "kind" => {
                if run.get("kind").is_none_or(Node::is_null) {
                    run.set("kind", v.clone());
                }
            }
            "container" | "environment" => {
                if let Some(fields) = v.as_map() {
                    let mut section = run
                        .get(key)
                        .filter(|n| n.as_map().is_some())
                        .cloned()
                        .unwrap_or_else(Node::map);
                    for (fk, fv) in fields {
                        apply_field(
                            &mut section,
                            fk.scalar_text().unwrap_or_default(),
                            fv,
                            strategy,
                        );
                    }
                    run.set(key, section);
                }
            }
            _ => apply_field(run, key, v, strategy),
        }
    }
}

/// The run patch that a file's top-level shortcuts make (Polyaxon 2.18
/// `apply_shortcuts`): `container`, `cmd`, `env`, `resources`, `environment`,
/// `init`, `connections`, `sidecars`, `volumes`.
pub fn shortcuts(file: &Node, path: &str, diag: &mut Diag) -> Option<Node> {
    let mut patch = Node::map();
    let mut container = Node::map();
    let mut any = false;
    if let Some(ports) = file.get("ports").filter(|n| !n.is_null()) {
        let _ = ports;
        diag.error(
            child(path, "ports"),
            "the ports shortcut makes a service, which is not supported yet",
        );
    }
    if let Some(c) = file.get("container").filter(|n| !n.is_null()) {
        if let Some(fields) = c.as_map() {
            for (k, v) in fields {
                container.set(k.scalar_text().unwrap_or_default(), v.clone());
            }
            any = true;
        } else {
            diag.error(child(path, "container"), "expected a container (a mapping)");
        }
    }
    if let Some(cmd) = file.get("cmd").filter(|n| !n.is_null()) {
        let lines: Option<Vec<String>> = match &cmd.value {
            Value::Scalar(_) => cmd.as_str().map(|s| vec![s.to_string()]),
            Value::Seq(items, _) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect(),
            Value::Map(..) => None,
        };
        match lines {
            Some(lines) if lines.iter().all(|l| !l.trim().is_empty()) && !lines.is_empty() => {
                container.set(
                    "command",
                    Node::seq(vec![Node::string("/bin/sh"), Node::string("-c")]),
                );
                let script = std::iter::once("set -e".to_string())
                    .chain(lines)
                    .collect::<Vec<_>>()
                    .join("\n");
                container.set("args", Node::seq(vec![Node::string(script)]));
                any = true;
            }
            _ => diag.error(
                child(path, "cmd"),
                "cmd must be a non-blank string or a list of non-blank strings",
            ),
        }
    }
    if let Some(env) = file.get("env").filter(|n| !n.is_null()) {
        match env.as_map() {
            Some(entries) => {
                let mut list = Vec::new();
                for (k, v) in entries {
                    let name = k.scalar_text().unwrap_or_default();
                    match v.as_str() {
                        Some(value) if v.as_scalar().is_some() => {
                            let mut e = Node::map();
                            e.set("name", Node::string(name));
                            e.set("value", Node::string(value));
                            list.push(e);
                        }
                        _ => diag.error(
                            child(&child(path, "env"), name),
                            format!(
                                "env.{name} must be a string; quote it: \"{}\"",
                                v.scalar_text().unwrap_or_default()
                            ),
                        ),
                    }
                }
                container.set("env", Node::seq(list));
                any = true;
            }
            None => diag.error(
                child(path, "env"),
                "env must be a mapping of names to string values",
            ),
        }
    }
    if let Some(resources) = file.get("resources").filter(|n| !n.is_null())
        && let Some(r) = lower_resources(resources, &child(path, "resources"), diag)
    {
        container.set("resources", r);
        any = true;
    }
    if container.as_map().is_some_and(|m| !m.is_empty()) {
        patch.set("container", container);
    }
    for field in ["environment", "init", "connections", "sidecars", "volumes"] {
        if let Some(v) = file.get(field).filter(|n| !n.is_null()) {
            patch.set(field, v.clone());
            any = true;
        }
    }
    any.then_some(patch)
}

/// `resources: {cpu: "1..2", memory: 2Gi, gpu: 1}` → requests/limits.
fn lower_resources(node: &Node, path: &str, diag: &mut Diag) -> Option<Node> {
    let Some(entries) = node.as_map() else {
        diag.error(
            path,
            "resources must be a mapping of resource names to values",
        );
        return None;
    };
    let mut requests = Node::map();
    let mut limits = Node::map();
    for (k, v) in entries {
        let key = k.scalar_text().unwrap_or_default();
        let at = child(path, key);
        if key == "nvidia.com/gpu" {
            diag.error(&at, "resources.nvidia.com/gpu is spelled gpu");
            continue;
        }
        if !matches!(key, "cpu" | "memory" | "gpu") && !key.contains('/') {
            diag.error(&at, format!("unknown resource \"{key}\"; use cpu, memory, gpu, or an extended resource such as google.com/tpu"));
            continue;
        }
        let name = if key == "gpu" { "nvidia.com/gpu" } else { key };
        let is_count = !matches!(key, "cpu" | "memory");
        let text = match v.resolve() {
            Some(Resolved::Str(s) | Resolved::Int(s) | Resolved::Float(s)) => s.trim().to_string(),
            _ => {
                diag.error(
                    &at,
                    format!("resources.{key} must be a number or a range such as 1..2"),
                );
                continue;
            }
        };
        let (low, high) = match text.split_once("..") {
            Some((l, h)) => (l.trim().to_string(), h.trim().to_string()),
            None if is_count => (text.clone(), text.clone()),
            None => (text, String::new()),
        };
        if low.is_empty() && high.is_empty() {
            diag.error(
                &at,
                format!("resources.{key} needs a request, a limit, or both"),
            );
            continue;
        }
        if is_count
            && [&low, &high]
                .iter()
                .any(|p| !p.is_empty() && p.parse::<u64>().is_err())
        {
            diag.error(&at, format!("resources.{key} must be an integer count"));
            continue;
        }
        if !low.is_empty() {
            requests.set(name, Node::string(low));
        }
        if !high.is_empty() {
            limits.set(name, Node::string(high));
        }
    }
    let mut out = Node::map();
    if requests.as_map().is_some_and(|m| !m.is_empty()) {
        out.set("requests", requests);
    }
    if limits.as_map().is_some_and(|m| !m.is_empty()) {
        out.set("limits", limits);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::to_json;
    use serde_json::json;

    fn node(text: &str) -> Node {
        crate::yaml::parse_one(text)
    }

    const BASE: &str = "kind: job\nenvironment:\n  nodeSelector: {x: old, y: y}\ncontainer:\n  image: busybox\n  command: [python, a.py]\n  env: [{name: A, value: old}, {name: B, value: b}]\n  resources: {limits: {cpu: 1}}\n";
    const PATCH: &str = "container:\n  command: [python, b.py]\n  env: [{name: A, value: new}, {name: C, value: c}]\n  resources: {limits: {memory: 2Gi}}\nenvironment:\n  nodeSelector: {x: new, z: z}\n";

    fn patched(strategy: Strategy) -> serde_json::Value {
        let mut run = node(BASE);
        patch_run(&mut run, &node(PATCH), strategy);
        to_json(&run)
    }

    #[test]
    fn strategies_match_the_oracle() {
        // The oracle's --show-compiled of inputs/14_patch_*.yaml, except that
        // command is replaced, not merged into [python, a.py, b.py].
        let post = patched(Strategy::PostMerge);
        assert_eq!(post["container"]["command"], json!(["python", "b.py"]));
        assert_eq!(
            post["container"]["env"],
            json!([{"name": "A", "value": "old"}, {"name": "B", "value": "b"}, {"name": "A", "value": "new"}, {"name": "C", "value": "c"}])
        );
        assert_eq!(
            post["container"]["resources"],
            json!({"limits": {"cpu": 1, "memory": "2Gi"}})
        );
        assert_eq!(
            post["environment"]["nodeSelector"],
            json!({"x": "new", "y": "y", "z": "z"})
        );

        let pre = patched(Strategy::PreMerge);
        assert_eq!(pre["container"]["command"], json!(["python", "a.py"]));
        assert_eq!(
            pre["container"]["env"],
            json!([{"name": "A", "value": "new"}, {"name": "C", "value": "c"}, {"name": "A", "value": "old"}, {"name": "B", "value": "b"}])
        );
        assert_eq!(
            pre["environment"]["nodeSelector"],
            json!({"x": "old", "z": "z", "y": "y"})
        );

        let replace = patched(Strategy::Replace);
        assert_eq!(replace["container"]["image"], json!("busybox"));
        assert_eq!(
            replace["container"]["resources"],
            json!({"limits": {"memory": "2Gi"}})
        );
        assert_eq!(
            replace["environment"]["nodeSelector"],
            json!({"x": "new", "z": "z"})
        );

        let isnull = patched(Strategy::IsNull);
        assert_eq!(isnull, to_json(&node(BASE)));
    }

    #[test]
    fn resource_shortcut() {
        let mut diag = Diag::default();
        let r = lower_resources(
            &node("{cpu: '1..2', memory: 2Gi, gpu: 1}"),
            "resources",
            &mut diag,
        )
        .expect("ok");
        assert!(diag.findings.is_empty());
        assert_eq!(
            to_json(&r),
            json!({"requests": {"cpu": "1", "memory": "2Gi", "nvidia.com/gpu": "1"}, "limits": {"cpu": "2", "nvidia.com/gpu": "1"}})
        );
    }

    #[test]
    fn equal_values_hash_alike_whatever_their_key_order() {
        use serde_json::json;
        let a = json!({"name": "x", "value": [1, {"a": 1, "b": 2}]});
        let b = json!({"value": [1, {"b": 2, "a": 1}], "name": "x"});
        assert_eq!(a, b);
        assert_eq!(meaning_hash(&a), meaning_hash(&b));
        assert_ne!(meaning_hash(&json!([1, 2])), meaning_hash(&json!([2, 1])));
        assert_ne!(meaning_hash(&json!(1)), meaning_hash(&json!("1")));
    }
}
