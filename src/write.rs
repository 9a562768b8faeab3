//! Output: a ResourceList of the input's apiVersion, or a bare stream. Built
//! completely in memory and written in one go: a half-written list makes kpt
//! hide the real error.

use crate::read::Envelope;
use crate::results::Finding;
use crate::yaml::{self, Node};

/// The functionConfig is echoed back, as kyaml's framework does, so the
/// output can be fed to the function again (`f(f(x))`).
pub fn resource_list(
    api_version: &str,
    kind: &str,
    items: Vec<Node>,
    function_config: Option<&Node>,
    results: &[Finding],
) -> String {
    let mut list = Node::map();
    list.set("apiVersion", Node::string(api_version));
    list.set("kind", Node::string(kind));
    list.set("items", Node::seq(items));
    if let Some(fc) = function_config {
        list.set("functionConfig", fc.clone());
    }
    if !results.is_empty() {
        list.set(
            "results",
            Node::seq(
                by_severity(results)
                    .into_iter()
                    .map(Finding::to_node)
                    .collect(),
            ),
        );
    }
    yaml::to_string(&list)
}

pub fn stream(items: &[Node]) -> String {
    yaml::write_stream(&items.iter().collect::<Vec<_>>())
}

/// What a KRM call answers: the list back in its envelope, with results.
pub fn krm_output(
    envelope: &Envelope,
    items: Vec<Node>,
    function_config: Option<&Node>,
    results: &[Finding],
) -> String {
    match envelope {
        Envelope::ResourceList { api_version, kind } => {
            resource_list(api_version, kind, items, function_config, results)
        }
        Envelope::Stream => stream(&items),
    }
}

/// Errors first, then warnings, then info, each in item order: kpt shows
/// only the first lines of a function's results.
pub fn by_severity(results: &[Finding]) -> Vec<&Finding> {
    let mut sorted: Vec<&Finding> = results.iter().collect();
    sorted.sort_by_key(|f| f.severity);
    sorted
}

/// Lines for stderr, one per result.
pub fn messages(results: &[Finding]) -> String {
    by_severity(results)
        .iter()
        .map(|f| format!("{f}\n"))
        .collect()
}
