//! Output: a ResourceList of the input's apiVersion, or a bare stream. Built
//! completely in memory and written in one go: a half-written list makes kpt
//! hide the real error.

use crate::convert::OutputItem;
use crate::read::Envelope;
use crate::results::Finding;
use crate::yaml::{self, Node};

/// The functionConfig is echoed back, as kyaml's framework does, so the
/// output can be fed to the function again (`f(f(x))`). Written straight
/// into one string: items that passed through untouched are copied from
/// `input`, the text they were read from.
pub fn resource_list(
    api_version: &str,
    kind: &str,
    items: &[OutputItem],
    input: &str,
    function_config: Option<&Node>,
    results: &[Finding],
) -> String {
    let mut out = String::with_capacity(output_capacity(items, input));
    yaml::write_root_entry(&mut out, "apiVersion", &Node::string(api_version));
    yaml::write_root_entry(&mut out, "kind", &Node::string(kind));
    if items.is_empty() {
        out.push_str("items: []\n");
    } else {
        out.push_str("items:\n");
        write_items(&mut out, items, ITEMS_FOR_TWO_THREADS, |out, _, item| {
            yaml::write_seq_entry(out, &item.node, item.verbatim.as_ref(), input)
        });
    }
    if let Some(fc) = function_config {
        yaml::write_root_entry(&mut out, "functionConfig", fc);
    }
    if !results.is_empty() {
        let results = Node::seq(
            by_severity(results)
                .into_iter()
                .map(Finding::to_node)
                .collect(),
        );
        yaml::write_root_entry(&mut out, "results", &results);
    }
    out
}

pub fn stream(items: &[OutputItem], input: &str) -> String {
    let mut out = String::with_capacity(output_capacity(items, input));
    write_items(&mut out, items, ITEMS_FOR_TWO_THREADS, |out, i, item| {
        if i > 0 {
            out.push_str("---\n");
        }
        yaml::write_document_from(out, &item.node, item.verbatim.as_ref(), input);
    });
    out
}

/// From this many items on, a second thread writes part of the answer.
const ITEMS_FOR_TWO_THREADS: usize = 256;

/// Writes each item with `write_one(out, its index, item)`: from
/// `min_for_two_threads` items on, on two threads, the second part into a
/// string of its own that is then appended, cut where the two parts take
/// about as long (an item emitted from its tree costs many times one copied
/// from its text).
fn write_items(
    out: &mut String,
    items: &[OutputItem],
    min_for_two_threads: usize,
    write_one: impl Fn(&mut String, usize, &OutputItem) + Sync,
) {
    let weight = |item: &OutputItem| if item.verbatim.is_some() { 1 } else { 16 };
    if items.len() < min_for_two_threads.max(2) {
        for (i, item) in items.iter().enumerate() {
            write_one(out, i, item);
        }
        return;
    }
    let half = items.iter().map(weight).sum::<usize>() / 2;
    let mut so_far = 0;
    let cut = items
        .iter()
        .position(|item| {
            so_far += weight(item);
            so_far > half
        })
        .unwrap_or(items.len());
    let (first, second) = items.split_at(cut);
    let room = out.capacity().saturating_sub(out.len()) / 2;
    let write_one = &write_one;
    let ((), second_text) = crate::parallel::join(
        || {
            for (i, item) in first.iter().enumerate() {
                write_one(out, i, item);
            }
        },
        || {
            let mut text = String::with_capacity(room);
            for (i, item) in second.iter().enumerate() {
                write_one(&mut text, cut + i, item);
            }
            text
        },
    );
    out.push_str(&second_text);
}

/// The copied text plus room for what is emitted: one allocation for most
/// outputs.
fn output_capacity(items: &[OutputItem], input: &str) -> usize {
    input.len() + input.len() / 2 + 4096 + items.len() * 8
}

/// What a KRM call answers: the list back in its envelope, with results.
pub fn krm_output(
    envelope: &Envelope,
    items: &[OutputItem],
    input: &str,
    function_config: Option<&Node>,
    results: &[Finding],
) -> String {
    match envelope {
        Envelope::ResourceList { api_version, kind } => {
            resource_list(api_version, kind, items, input, function_config, results)
        }
        Envelope::Stream => stream(items, input),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read::read_krm;
    use crate::yaml::Limits;

    #[test]
    fn items_copied_from_a_list_are_emitted_into_a_stream() {
        // The legacy plugin answers a stream even when given a list: an
        // item's list text (indented under `- `) is no document.
        let input =
            "kind: ResourceList\nitems:\n- kind: A\n  metadata:\n    name: a # kept in a list\n";
        let read = read_krm(input, &Limits::default()).expect("reads");
        let items: Vec<OutputItem> = read.items.into_iter().map(OutputItem::unchanged).collect();
        assert_eq!(stream(&items, input), "kind: A\nmetadata:\n  name: a\n");
        let list = resource_list("v1", "ResourceList", &items, input, None, &[]);
        assert!(list.ends_with("items:\n- kind: A\n  metadata:\n    name: a # kept in a list\n"));
    }

    #[test]
    fn items_written_on_two_threads_are_the_items_written_on_one() {
        let mut input = String::from("kind: ResourceList\nitems:\n");
        for i in 0..40 {
            input.push_str(&format!("- kind: A # copied\n  metadata: {{name: a{i}}}\n"));
        }
        let read = read_krm(&input, &Limits::default()).expect("reads");
        // Every third item emitted from its tree, the others copied.
        let items: Vec<OutputItem> = read
            .items
            .into_iter()
            .enumerate()
            .map(|(i, item)| match i % 3 {
                0 => OutputItem::made(item.node),
                _ => OutputItem::unchanged(item),
            })
            .collect();
        let write = |min: usize, sep: bool| {
            let mut out = String::new();
            write_items(&mut out, &items, min, |out, i, item| {
                if sep && i > 0 {
                    out.push_str("---\n");
                }
                yaml::write_seq_entry(out, &item.node, item.verbatim.as_ref(), &input);
            });
            out
        };
        for sep in [false, true] {
            let one = write(usize::MAX, sep);
            assert!(
                one.contains("# copied") && one.contains("{name: a0}"),
                "{one}"
            );
            for min in [0, 1, 2, 39, 40] {
                assert_eq!(write(min, sep), one, "min {min}");
            }
        }
    }
}
