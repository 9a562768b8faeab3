//! Reading a large ResourceList on two threads: the middle of its `items:`
//! sequence on one, the rest on the other, then joined into exactly the
//! documents one thread would have read.
//!
//! The input is cut at two line starts chosen from the text alone: `middle`,
//! the first item (`- ` at column 0) past half the input, and `rest`, the
//! first line after it at column 0 that is not an item, a comment, a blank
//! or an indented line. Three chunks are read on their own: the head
//! `..middle`, the entries `middle..rest` as a root sequence, and the tail
//! `rest..`. The text alone proves nothing (a `- ` line may sit inside a
//! quoted scalar), so the join checks that each cut lies where one reading
//! would have been at a column-0 token between two items of a block
//! sequence at column 0 that is the value of the head's last root key, and
//! that the tail goes on with keys of that same mapping. Anything else, and
//! any error in a chunk, makes the caller read the whole input on one
//! thread, which also gives the exact error.
//!
//! Why a column-0 cut is safe once the head reads as ending in that
//! sequence: no block scalar, plain scalar or indented collection can go on
//! at column 0 inside an item, so the head ends where one reading would
//! close those; a quoted scalar or flow collection open at the cut is an
//! error in the chunk read alone; the entries hold no anchor, alias or tag
//! and no `%TAG` directive comes before the cut, so no chunk depends on
//! another's anchors or tag handles; and no chunk may end in an empty value,
//! which the parser places by what follows it.

use super::node::{Node, Value};
use super::parse::{Chunk, ChunkRead, Document, Limits, Offered, Prune, Role};

/// Below this, one thread is as fast and the cut is not worth looking for.
pub const MIN_BYTES: usize = 256 << 10;

/// The text before the sequence (read once more to learn its key and the
/// keys before it) is at most this long.
const MAX_HEADER_BYTES: usize = 64 << 10;

/// The documents of `text` read in two parts, or None when no cut was found
/// or one could not be proved right (the caller then reads it whole).
pub fn parse_in_two(text: &str, limits: &Limits, prune: &Prune<'_>) -> Option<Vec<Document>> {
    // Ranges are lines; with CR line breaks the lines are not what they seem.
    if text.contains('\r') || limits.max_depth < 3 {
        return None;
    }
    let middle = first_item_line_from(text, text.len() / 2)?;
    let rest = end_of_items(text, middle);
    if rest < text.len() && !starts_a_key(text.as_bytes()[rest]) {
        return None;
    }
    // `%TAG` directives give the whole document's tags their meaning: the
    // tail read alone would not know them.
    let head = &text[..middle];
    if head.starts_with('%') || head.contains("\n%") {
        return None;
    }
    let key_line_end = key_line_end_before(text, middle)?;
    // The sequence starts at column 0 (not indented): the first line after
    // its key that is not blank or a comment is an item.
    if !is_item_line(first_content_line(text, key_line_end)?) {
        return None;
    }
    let (key, siblings) = header(text.get(..key_line_end)?, limits)?;

    let newlines = |range: std::ops::Range<usize>| {
        text.as_bytes()[range]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
    };
    let middle_lines = newlines(0..middle);
    let rest_lines = middle_lines + newlines(middle..rest);
    // Entries sit two levels down (root mapping, sequence) in the whole input
    // and one level down here.
    let entries_limits = Limits {
        max_depth: limits.max_depth - 1,
        ..*limits
    };
    let part = |from: usize, to: usize, lines: usize| {
        super::parse::parse_chunk(
            &text[from..to],
            limits,
            prune,
            Chunk {
                byte: from,
                lines,
                role: Role::Part,
            },
        )
    };
    let ((head, tail), entries) = crate::parallel::join(
        || {
            let head = part(0, middle, 0);
            let tail = (rest < text.len()).then(|| part(rest, text.len(), rest_lines));
            (head, tail)
        },
        || {
            super::parse::parse_chunk(
                &text[middle..rest],
                &entries_limits,
                prune,
                Chunk {
                    byte: middle,
                    lines: middle_lines,
                    role: Role::Entries {
                        key: &key,
                        siblings: &siblings,
                    },
                },
            )
        },
    );
    let joined = Joined {
        head: head.ok()?,
        entries: entries.ok()?,
        tail: tail.transpose().ok()?,
    };
    joined.into_documents(text, limits, prune, &key, &siblings)
}

struct Joined {
    head: ChunkRead,
    entries: ChunkRead,
    tail: Option<ChunkRead>,
}

impl Joined {
    fn into_documents(
        self,
        text: &str,
        limits: &Limits,
        prune: &Prune<'_>,
        key: &str,
        siblings: &[(Node, Node)],
    ) -> Option<Vec<Document>> {
        let Joined {
            head,
            entries,
            tail,
        } = self;
        // The entries: one root block sequence with no anchor, alias or tag.
        // Neither cut may end in an empty value: the parser places one by
        // what follows it (another line, another copy).
        if entries.specials != 0 || head.empty_value_at_end || entries.empty_value_at_end {
            return None;
        }
        let [entries_doc] = <[Document; 1]>::try_from(entries.documents).ok()?;
        let Document {
            root: Some(entries_root),
            copyable: entries_copyable,
            ..
        } = entries_doc
        else {
            return None;
        };
        let (Value::Seq(new_items, None), false) = (entries_root.value, entries_root.flow) else {
            return None;
        };
        let [(entries_key, new_sources)] =
            <[(String, Vec<Option<super::Verbatim>>); 1]>::try_from(entries_copyable.entries)
                .ok()?;
        if entries_key != key || new_sources.len() != new_items.len() {
            return None;
        }

        // The head ends in that sequence: the last root key of its last
        // document, a block sequence starting at column 0, after the same
        // keys as the ones the entries were read with.
        let mut documents = head.documents;
        let mut doc = documents.pop()?;
        if head.last_root_seq.as_deref() != Some(key) {
            return None;
        }
        let root = doc.root.as_mut()?;
        if root.flow {
            return None;
        }
        let Value::Map(pairs, _) = &mut root.value else {
            return None;
        };
        let ((last_key, last_value), before) = pairs.split_last_mut()?;
        if last_key.scalar_text() != Some(key) || before != siblings || last_value.flow {
            return None;
        }
        let Value::Seq(items, _) = &mut last_value.value else {
            return None;
        };
        items.extend(new_items);
        let (_, sources) = doc
            .copyable
            .entries
            .iter_mut()
            .rev()
            .find(|(k, _)| k == key)?;
        if sources.len() != items.len() - new_sources.len() {
            return None;
        }
        sources.extend(new_sources);
        doc.copyable.pruned_entries |= entries_copyable.pruned_entries;

        // The tail goes on with keys of the same mapping, none of them again.
        let mut alias_nodes = head.alias_nodes;
        let mut after = Vec::new();
        // Where the root's text ends: the end of the line of its last value,
        // when each part had a text for its share of it.
        let root_end = match tail {
            None => {
                doc.source.end = text.len();
                super::parse::line_end_after(text, entries.content_end)
            }
            Some(tail) => {
                alias_nodes = alias_nodes.saturating_add(tail.alias_nodes);
                let mut tail_docs = tail.documents.into_iter();
                let first = tail_docs.next()?;
                if tail.first_root_map != Some(first.source.start) {
                    return None;
                }
                // Its sequences would have been offered with the head's keys
                // as siblings: none, to keep that simple.
                if !first.copyable.entries.is_empty() {
                    return None;
                }
                let Some(Node {
                    value: Value::Map(more, None),
                    flow: false,
                    ..
                }) = first.root
                else {
                    return None;
                };
                for (k, _) in &more {
                    let k = k.scalar_text()?;
                    if pairs.iter().any(|(have, _)| have.scalar_text() == Some(k)) {
                        return None;
                    }
                }
                pairs.extend(more);
                doc.source.end = first.source.end;
                after.extend(tail_docs);
                first.copyable.root.map(|verbatim| verbatim.range.end)
            }
        };
        doc.copyable.root = doc
            .copyable
            .root
            .take()
            .zip(root_end)
            .map(|(mut verbatim, end)| {
                verbatim.range.end = end;
                verbatim
            });

        documents.push(doc);
        documents.extend(after);
        if documents.len() > limits.max_documents || alias_nodes > limits.max_alias_nodes {
            return None;
        }
        // Roots are offered to `prune` as one reading offers them: whole.
        for document in &mut documents {
            if let (Some(root), Some(verbatim)) = (&mut document.root, &mut document.copyable.root)
                && !verbatim.pruned
                && prune(root, Offered::Root)
            {
                super::prune_to_identity(root);
                verbatim.pruned = true;
            }
        }
        Some(documents)
    }
}

/// Whether `text`, read in two parts wherever a cut can be found (however
/// short it is), gives what one reading gives: documents, pruning and texts
/// included, or the same error. For the fuzz target and property tests.
#[doc(hidden)]
pub fn agrees_with_one_reading(text: &str) -> bool {
    let limits = Limits::default();
    super::parse::parse_stream_split_from(text, &limits, &prune_for_checks, 0)
        == super::parse::parse_chunk(text, &limits, &prune_for_checks, Chunk::WHOLE)
            .map(|read| read.documents)
}

/// Prunes like the reader does, by what was read before: list items under
/// `items` once a `kind` came before them, roots of kind `Pruned`.
fn prune_for_checks(node: &Node, offered: Offered<'_>) -> bool {
    let kind = node.get("kind").and_then(Node::scalar_text);
    match offered {
        Offered::Root => kind == Some("Pruned"),
        Offered::Entry { key, siblings } => {
            key == "items"
                && siblings
                    .iter()
                    .any(|(k, _)| k.scalar_text() == Some("kind"))
                && kind != Some("Kept")
        }
    }
}

/// The start of the first line at or after `from` that is an item of a
/// column-0 block sequence (`- …` or a lone `-`).
fn first_item_line_from(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = line_start_at_or_after(text, from)?;
    while at < bytes.len() {
        if is_item_line(&bytes[at..]) {
            return Some(at);
        }
        at = next_line(text, at)?;
    }
    None
}

/// The start of the first line after `from` at column 0 that is neither an
/// item nor a comment, a blank or an indented line; the end of the text if
/// there is none.
fn end_of_items(text: &str, from: usize) -> usize {
    let bytes = text.as_bytes();
    let mut at = from;
    while let Some(next) = next_line(text, at) {
        at = next;
        if at >= bytes.len() || !goes_on_items(&bytes[at..]) {
            return at;
        }
    }
    bytes.len()
}

/// The end (after its line break) of the last line before `before` at column
/// 0 that is neither an item nor a comment, a blank or an indented line:
/// where the sequence's key is.
fn key_line_end_before(text: &str, before: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut end = before;
    while end > 0 {
        let start = text[..end - 1].rfind('\n').map_or(0, |i| i + 1);
        if !goes_on_items(&bytes[start..end]) {
            return Some(end).filter(|&end| end <= MAX_HEADER_BYTES);
        }
        end = start;
    }
    None
}

/// The key a sequence belongs to and the root entries before it, from the
/// text up to and including the key's line: its last document must end in a
/// block mapping whose last key has no value yet.
fn header(text: &str, limits: &Limits) -> Option<(String, Vec<(Node, Node)>)> {
    let read = super::parse::parse_chunk(
        text,
        limits,
        &|_, _| false,
        Chunk {
            byte: 0,
            lines: 0,
            role: Role::Part,
        },
    )
    .ok()?;
    let root = read.documents.into_iter().last()?.root?;
    if root.flow {
        return None;
    }
    let Value::Map(mut pairs, _) = root.value else {
        return None;
    };
    let (key, value) = pairs.pop()?;
    // The parser reads an empty value as a plain `~`.
    let empty = value.as_scalar().is_some_and(|s| {
        matches!(s.text.as_str(), "" | "~") && s.tag.is_none() && s.style == super::Style::Plain
    });
    Some((key.scalar_text()?.to_string(), pairs)).filter(|_| empty)
}

/// The rest of the text from the first line at or after `from` that is not
/// blank or a comment.
fn first_content_line(text: &str, from: usize) -> Option<&[u8]> {
    let bytes = text.as_bytes();
    let mut at = from;
    loop {
        let line = bytes.get(at..)?;
        let blank = line.iter().position(|&b| b != b' ' && b != b'\t');
        match blank.map(|i| line[i]) {
            Some(b'#' | b'\n') => at = next_line(text, at)?,
            Some(_) => return Some(line),
            None => return None,
        }
    }
}

fn is_item_line(line: &[u8]) -> bool {
    matches!(line, [b'-', b' ' | b'\n', ..] | [b'-'])
}

/// A line that may be part of a column-0 block sequence's items.
fn goes_on_items(line: &[u8]) -> bool {
    is_item_line(line) || matches!(line.first(), None | Some(b' ' | b'\t' | b'#' | b'\n'))
}

/// The first byte of a plain or quoted mapping key at column 0.
fn starts_a_key(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'"' | b'\'')
}

fn line_start_at_or_after(text: &str, at: usize) -> Option<usize> {
    if at == 0 || text.as_bytes().get(at - 1) == Some(&b'\n') {
        return Some(at);
    }
    next_line(text, at)
}

/// The start of the line after the one holding `at`.
fn next_line(text: &str, mut at: usize) -> Option<usize> {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    // `str::find` of a char searches with memchr.
    text.get(at..)?.find('\n').map(|i| at + i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse::{parse_chunk, parse_stream_split_from};
    use crate::yaml::{Place, YamlError};

    use super::prune_for_checks as prune;

    fn one_thread(text: &str) -> Result<Vec<Document>, YamlError> {
        parse_chunk(text, &Limits::default(), &prune, Chunk::WHOLE).map(|r| r.documents)
    }

    fn item(i: usize) -> String {
        match i % 5 {
            0 => format!(
                "- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: c{i} # a comment\n  data:\n    script: |\n      #!/bin/sh\n      echo {i}\n\n    keep: |+\n      x\n\n"
            ),
            1 => format!("- {{apiVersion: v1, kind: Kept, metadata: {{name: f{i}}}}}\n"),
            2 => format!(
                "# a comment at column 0\n- apiVersion: apps/v1\n  kind: Kept\n  metadata: {{name: d{i}}}\n  spec:\n    replicas: 1\n    args: [\"a\", 'b']\n"
            ),
            3 => format!("-\n  apiVersion: v1\n  kind: Secret\n  metadata:\n    name: s{i}\n"),
            _ => format!(
                "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: \"svc{i}\"\n  spec:\n    ports:\n    - port: {i}\n      name: p\n"
            ),
        }
    }

    fn resource_list(n: usize, tail: &str) -> String {
        let mut text =
            String::from("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nitems:\n");
        for i in 0..n {
            text.push_str(&item(i));
        }
        text.push_str(tail);
        text
    }

    fn split(text: &str) -> Option<Vec<Document>> {
        parse_in_two(text, &Limits::default(), &prune)
    }

    #[test]
    fn a_list_read_in_two_is_the_list_read_in_one() {
        for tail in [
            "",
            "functionConfig:\n  apiVersion: v1\n  kind: ConfigMap\n  data: {a: 1}\n",
            "functionConfig: {a: 1}\n---\nkind: Pruned\napiVersion: v1\nlist:\n- 1\n",
            "\"quoted\": 1\n# comment\n",
        ] {
            let text = resource_list(40, tail);
            let two = split(&text).expect("cut found and proved");
            assert!(Ok(&two) == one_thread(&text).as_ref(), "{tail:?}");
            let entries = two[0].copyable.entries_of("items").expect("items");
            assert_eq!(entries.len(), 40);
            // Every block-mapping item keeps its text, across the cut too.
            for (i, verbatim) in entries.iter().enumerate() {
                // Not a flow item, nor one whose dash is alone on its line.
                let expect_text = !matches!(i % 5, 1 | 3);
                assert_eq!(verbatim.is_some(), expect_text, "item {i}");
                if let Some(v) = verbatim {
                    assert_eq!(v.place, Place::SeqEntry);
                    assert!(text[..v.range.start].ends_with("- "));
                }
            }
        }
    }

    #[test]
    fn the_last_root_sequence_is_known_by_its_key() {
        let text = "kind: List\nitems:\n- a: 1\nother: [1]\n";
        let read = parse_chunk(text, &Limits::default(), &prune, Chunk::WHOLE).expect("reads");
        assert_eq!(read.last_root_seq.as_deref(), Some("items"));
    }

    #[test]
    fn cuts_that_one_reading_would_not_make_are_refused() {
        let half = resource_list(20, "");
        let refused = [
            // The middle `- ` line sits in a quoted scalar or a flow sequence.
            format!("{half}- a: \"x\n{}  c\"\n", "- b\n".repeat(2000)),
            format!("{half}- a: [x,\n{}  c]\n", "- b\n".repeat(2000)),
            // The sequence is indented: a column-0 item is an error.
            format!(
                "kind: List\nitems:\n  - a: 1\n{}",
                "  - a: 1\n".repeat(50) + &"- b: 1\n".repeat(50)
            ),
            // An anchor or alias among the entries.
            format!("{half}{}- a: &x 1\n- b: *x\n", item(3).repeat(30)),
            // The tail is not a key of the root mapping.
            format!("{half}{}plain\n", item(3).repeat(30)),
            format!("{half}{}---\nb: 1\n", item(3).repeat(30)),
            // A key again, or a sequence, in the tail.
            format!("{half}{}kind: again\n", item(3).repeat(30)),
            format!("{half}{}results:\n- a\n", item(3).repeat(30)),
            // Tags in the tail that `%TAG` directives before the list define.
            format!(
                "%TAG !! tag:evil.com,2000:\n---\n{half}{}functionConfig:\n  a: !!int \"3\"\n",
                item(3).repeat(30)
            ),
            // CR line breaks.
            half.replace('\n', "\r\n") + &item(3).replace('\n', "\r\n").repeat(30),
        ];
        for (i, text) in refused.iter().enumerate() {
            assert!(split(text).is_none(), "case {i}");
            // And read whole, the answer (documents or error) is one reading's.
            assert!(
                parse_stream_split_from(text, &Limits::default(), &prune, 0) == one_thread(text),
                "case {i}"
            );
        }
    }

    /// Found by the property test: a block scalar with no content line is
    /// read from its header at the end of a text and from the next line
    /// otherwise, and an empty plain value took the first character of the
    /// next line as its text.
    #[test]
    fn a_cut_right_after_an_empty_block_scalar_reads_as_one_reading() {
        for text in [
            "kind: List\nitems:\n- x: >-\n- apiVersion: v1",
            "apiVersion: v1\nkind: List\nitems:\n- x: |+\n    keep\n\n- {a: 1,\n  b: 2}\n---\nitems:\n- key: value\n- x: >-\n- key: value\n- key: value\nfunctionConfig:\n  f: 1",
            "kind: List\nitems:\n- a: 1\n- y: |+\n\n- z: |\n# c\n- w: |2-\n- v: 1\n",
            // Found by the adversarial review: an explicit key with no value.
            "kind: List\nitems:\n- a: 1\n- data:\n    ? x\n- b: 1\n- c:\n    ? y\nz: 1\n",
        ] {
            assert!(agrees_with_one_reading(text), "{text:?}");
        }
    }

    #[test]
    fn limits_count_the_whole_input() {
        let text = resource_list(40, "functionConfig:\n  a: &a [1, 2]\n  b: *a\n");
        let limits = Limits {
            max_alias_nodes: 1,
            ..Limits::default()
        };
        assert!(parse_stream_split_from(&text, &limits, &prune, 0).is_err());
        let limits = Limits {
            max_depth: 3,
            ..Limits::default()
        };
        assert!(
            parse_stream_split_from(&text, &limits, &prune, 0)
                == parse_chunk(&text, &limits, &prune, Chunk::WHOLE).map(|r| r.documents)
        );
    }

    /// Items that make and break cuts (block scalars, quoted and flow
    /// scalars over several lines, anchors, tags, comments, a dash alone),
    /// and single lines that may break the list (tabs, markers, keys).
    fn piece() -> impl proptest::strategy::Strategy<Value = &'static str> {
        use proptest::prelude::Strategy;
        let item = proptest::sample::select(vec![
            "- a: 1\n",
            "- apiVersion: v1\n  kind: ConfigMap\n  data:\n    x: |\n      text\n\n      more\n",
            "- x: |+\n    keep\n\n",
            "-\n  a: 1\n",
            "- - 1\n  - 2\n",
            "- \"q\n- multi\"\n",
            "- [1,\n  2]\n",
            "- {a: 1,\n  b: 2}\n",
            "- a: &x 1\n  b: *x\n",
            "- !!map\n  a: 1\n",
            "# comment\n",
            "\n",
            "- key: value # trailing\n",
            "- x: >-\n    folded\n    more\n",
            "- plain\n  continued\n",
            "- 'single\n\n  para'\n",
            "- k: |2\n     two\n",
            "- kind: Kept\n  x: 1\n",
            // Block scalars with no content line.
            "- x: >-\n",
            "- y: |+\n\n",
            "- z: |\n# c\n",
            "- w: |2-\n",
            "- v: |\n",
            "- d:\n    ? x\n",
            "- ? e\n",
        ]);
        let line = proptest::sample::select(vec![
            "  # indented comment\n",
            "-\n",
            "\t- a\n",
            "-\tb\n",
            "---\n",
            "...\n",
            "kind: List\n",
            "items:\n",
            "  f: 1\n",
            "\"q\": 1\n",
            "- \"open\n",
            "  close\"\n",
            "- [\n",
            "]\n",
            "%TAG ! t:\n",
            "- *x\n",
        ]);
        proptest::prop_oneof![12 => item, 1 => line].boxed()
    }

    fn tail() -> impl proptest::strategy::Strategy<Value = &'static str> {
        proptest::sample::select(vec![
            "",
            "functionConfig:\n  f: 1\n",
            "functionConfig: {a: 1}\nz: 2\n",
            "other: [1]\n",
            "---\nb: 1\n",
            "results:\n- a\n",
            "kind: again\n",
            "plain\n",
            "f: *x\n",
            "f: &y 1\n---\nkind: Pruned\napiVersion: v1\n",
            "f: 1\n...\n",
        ])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]
        #[test]
        fn any_text_read_in_two_reads_as_in_one(
            pieces in proptest::collection::vec(piece(), 1..40),
            tail in tail(),
            final_break in proptest::bool::ANY,
        ) {
            let mut text = String::from("apiVersion: v1\nkind: List\nitems:\n");
            for piece in &pieces {
                text.push_str(piece);
            }
            text.push_str(tail);
            if !final_break {
                text.pop();
            }
            proptest::prop_assert!(agrees_with_one_reading(&text), "{:?}", text);
        }
    }
}
