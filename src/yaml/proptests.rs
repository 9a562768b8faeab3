//! Property tests: whatever string or tree we hold, the emitter writes text
//! that the parser reads back as the same value, and writing is idempotent.

use proptest::prelude::*;

use super::{
    Limits, Node, Resolved, Scalar, Style, Value, may_retype_plain, parse_stream, to_string,
};

/// What a node means, without styles or lines: what must survive a round trip.
#[derive(Debug, PartialEq)]
enum Meaning {
    Null(Option<String>),
    Bool(bool, Option<String>),
    Int(String, Option<String>),
    Float(String, Option<String>),
    Str(String, Option<String>),
    Seq(Vec<Meaning>, Option<String>),
    Map(Vec<(Meaning, Meaning)>, Option<String>),
}

fn meaning(node: &Node) -> Meaning {
    match &node.value {
        Value::Scalar(scalar) => {
            let tag = scalar.tag.clone();
            match scalar.resolve() {
                Resolved::Null => Meaning::Null(tag),
                Resolved::Bool(b) => Meaning::Bool(b, tag),
                Resolved::Int(t) => Meaning::Int(t.to_string(), tag),
                Resolved::Float(t) => Meaning::Float(t.to_string(), tag),
                Resolved::Str(t) => Meaning::Str(t.to_string(), tag),
            }
        }
        Value::Seq(items, tag) => Meaning::Seq(items.iter().map(meaning).collect(), tag.clone()),
        Value::Map(entries, tag) => Meaning::Map(
            entries
                .iter()
                .map(|(k, v)| (meaning(k), meaning(v)))
                .collect(),
            tag.clone(),
        ),
    }
}

fn parse_root(text: &str) -> Result<Node, String> {
    let docs = parse_stream(text, &Limits::default()).map_err(|e| format!("{e} in {text:?}"))?;
    match docs.as_slice() {
        [doc] => doc
            .root
            .clone()
            .ok_or_else(|| format!("no root in {text:?}")),
        _ => Err(format!("{} documents in {text:?}", docs.len())),
    }
}

/// Every character written raw is one YAML 1.1 and 1.2 readers take as it is.
fn check_raw_characters(text: &str) -> Result<(), String> {
    match text.chars().find(|&c| {
        !(c == '\n' || c == '\t' || c == ' ' || (!c.is_control() && !is_yaml11_special(c)))
    }) {
        Some(c) => Err(format!("raw {c:?} written in {text:?}")),
        None => Ok(()),
    }
}

fn is_yaml11_special(c: char) -> bool {
    matches!(
        c,
        '\u{85}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// Plain scalars keep their text (a plain `0755` stays plain) unless plain
/// text cannot carry it; anything else written plain must be a string to
/// YAML 1.1 readers too.
fn check_styles(written: &Node, back: &Node) -> Result<(), String> {
    match (&written.value, &back.value) {
        (Value::Scalar(w), Value::Scalar(b)) => {
            let was_plain = w.style == Style::Plain && w.tag.is_none() && !w.text.is_empty();
            // `... x` and `--- x` at column 0 are document markers: plain
            // text cannot carry them everywhere.
            let marker = ["...", "---"].iter().any(|m| {
                w.text
                    .strip_prefix(m)
                    .is_some_and(|r| r.is_empty() || r.starts_with([' ', '\t']))
            });
            if was_plain && !marker && b.style != Style::Plain && may_retype_plain(&w.text) {
                return Err(format!("plain {:?} was quoted", w.text));
            }
            if !was_plain && b.style == Style::Plain && b.tag.is_none() && may_retype_plain(&b.text)
            {
                return Err(format!("plain {:?} written for a string", b.text));
            }
            Ok(())
        }
        (Value::Seq(w, _), Value::Seq(b, _)) => {
            w.iter().zip(b).try_for_each(|(w, b)| check_styles(w, b))
        }
        (Value::Map(w, _), Value::Map(b, _)) => w
            .iter()
            .zip(b)
            .try_for_each(|((wk, wv), (bk, bv))| check_styles(wk, bk).and(check_styles(wv, bv))),
        _ => Err("the tree changed shape".to_string()),
    }
}

/// Writes `node`, reads it back, and checks value, raw characters, YAML 1.1
/// safety and idempotence. Returns the text written.
fn round_trip(node: &Node) -> Result<String, String> {
    let text = to_string(node);
    check_raw_characters(&text)?;
    let back = parse_root(&text)?;
    if meaning(&back) != meaning(node) {
        return Err(format!(
            "value changed: wrote {text:?}\nfrom {:?}\nread {:?}",
            meaning(node),
            meaning(&back)
        ));
    }
    check_styles(node, &back)?;
    let again = to_string(&back);
    if again != text {
        return Err(format!("not idempotent: {text:?} then {again:?}"));
    }
    Ok(text)
}

fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec![
            '\0', '\u{1}', '\u{7}', '\t', '\n', '\r', '\u{1b}', '\u{7f}', '\u{85}', '\u{a0}',
            '\u{2028}', '\u{2029}', '\u{feff}', '\u{fffe}', '\u{ffff}', '\u{200b}', 'é', '日',
            '😀', ' ', ' ', ' ', '#', ':', '-', '?', '\'', '"', '\\', '|', '>', '!', '&', '*',
            '%', '@', '`', '[', ']', '{', '}', ',', '~', '.', '0', '1', '7', 'e', 'x', 'a',
            'Z', '_', '/', '=', '<', '+',
        ]),
        1 => any::<char>(),
    ]
}

fn tricky_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => tricky_char().prop_map(String::from),
        2 => prop::sample::select(vec![
            "yes", "No", "on", "OFF", "y", "N", "true", "True", "null", "~", "0755", "012",
            "1e3", "0x1F", "1_000", "12:30", ".inf", "-.inf", ".nan", "<<", "=", ": ", " #",
            "---", "...", "- ", "? ", "\n\n", "  ", "\r\n", "word", "2001-12-14", "1.5", "+1",
        ])
        .prop_map(String::from),
    ]
}

fn tricky_text() -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_piece(), 0..10).prop_map(|pieces| pieces.concat())
}

fn with_style(text: String, style: Style, tag: Option<&str>) -> Node {
    Node::new(Value::Scalar(Scalar {
        text,
        style,
        tag: tag.map(str::to_string),
    }))
}

/// Scalars as the converter makes them: generated strings, block scalars,
/// single-quoted strings, numbers, booleans, nulls, tagged values.
fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        4 => tricky_text().prop_map(Node::string),
        2 => tricky_text().prop_map(|t| with_style(t, Style::Literal, None)),
        1 => tricky_text().prop_map(|t| with_style(t, Style::Folded, None)),
        1 => tricky_text().prop_map(|t| with_style(t, Style::SingleQuoted, None)),
        1 => tricky_text().prop_map(|t| with_style(t, Style::DoubleQuoted, Some("!!str"))),
        1 => tricky_text().prop_map(|t| with_style(t, Style::Literal, Some("!custom"))),
        1 => any::<i64>().prop_map(Node::int),
        1 => any::<bool>().prop_map(Node::bool),
        1 => prop::sample::select(vec!["null", "~", "1.5", "-0.25", "1e3", "0x1F", "0o17", ".inf"])
            .prop_map(Node::plain),
        1 => Just(Node::map()),
        1 => Just(Node::seq(Vec::new())),
    ]
}

fn key() -> impl Strategy<Value = Node> {
    prop_oneof![
        4 => tricky_text().prop_map(|t| Node::key(&t)),
        1 => tricky_text().prop_map(|t| with_style(t, Style::Literal, None)),
        1 => tricky_text().prop_map(|t| with_style(t, Style::SingleQuoted, None)),
        1 => tricky_text().prop_map(|t| with_style(t, Style::DoubleQuoted, Some("!!str"))),
    ]
}

fn tree() -> impl Strategy<Value = Node> {
    leaf().prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            (
                prop::collection::vec(inner.clone(), 1..5),
                prop::option::of(Just("!seqtag".to_string()))
            )
                .prop_map(|(items, tag)| Node::new(Value::Seq(items, tag))),
            (
                prop::collection::vec((key(), inner), 1..5),
                prop::option::of(Just("!maptag".to_string()))
            )
                .prop_map(|(entries, tag)| {
                    // The parser refuses duplicate keys (by text).
                    let mut seen = std::collections::HashSet::new();
                    let entries = entries
                        .into_iter()
                        .filter(|(k, _)| {
                            seen.insert(k.scalar_text().unwrap_or_default().to_string())
                        })
                        .collect();
                    Node::new(Value::Map(entries, tag))
                }),
        ]
    })
}

/// The places a scalar can land in: root, mapping value, key, sequence item,
/// item of a sequence under a key, value in a mapping inside a sequence.
fn placements(scalar: Node) -> Vec<Node> {
    let in_map =
        |key: &str, value: Node| Node::new(Value::Map(vec![(Node::key(key), value)], None));
    vec![
        scalar.clone(),
        in_map("k", scalar.clone()),
        Node::new(Value::Map(vec![(scalar.clone(), Node::int(1))], None)),
        Node::seq(vec![scalar.clone(), Node::int(1)]),
        in_map("k", Node::seq(vec![scalar.clone()])),
        Node::seq(vec![in_map("k", scalar.clone())]),
        in_map("a", in_map("b", Node::seq(vec![Node::seq(vec![scalar])]))),
    ]
}

fn round_trip_everywhere(scalar: Node) -> Result<(), TestCaseError> {
    for node in placements(scalar) {
        round_trip(&node).map_err(TestCaseError::fail)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn generated_strings_read_back(text in tricky_text()) {
        let node = Node::string(text.as_str());
        round_trip_everywhere(node)?;
    }

    #[test]
    fn literal_scalars_read_back(text in tricky_text()) {
        round_trip_everywhere(with_style(text.clone(), Style::Literal, None))?;
        round_trip_everywhere(with_style(text.clone(), Style::Folded, None))?;
        round_trip_everywhere(with_style(text, Style::SingleQuoted, None))?;
    }

    /// A plain scalar read from input is written as it came, and means the same.
    #[test]
    fn plain_scalars_from_input_read_back(text in tricky_text()) {
        let source = format!("k: {text}\n");
        if let Ok(root) = parse_root(&source)
            && let Some(Value::Map(entries, _)) = Some(&root.value)
            && let [(_, value)] = entries.as_slice()
            && let Some(scalar) = value.as_scalar()
            && scalar.style == Style::Plain
        {
            round_trip_everywhere(value.clone())?;
        }
    }

    #[test]
    fn trees_read_back(node in tree()) {
        round_trip(&node).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn known_hard_strings_read_back() {
    for text in [
        "",
        " ",
        "\n",
        "\n\n",
        " \n",
        "a\n",
        "\ta",
        "a\t",
        "- a",
        "? a",
        ": a",
        "a:",
        "#a",
        "a #b",
        "a: b",
        "---",
        "--- a",
        "...",
        "'",
        "\"",
        "\\",
        "\u{2028}",
        "\u{85}",
        "\u{feff}a",
        "\u{fffe}",
        "<<",
        "=",
        "~",
        "yes",
        "0755",
        "1e3",
        "12:30",
        ".inf",
        "\r\n",
        "  indented\nnormal\n",
        "\nleading\n",
        "a\n\n\n",
    ] {
        for node in [
            Node::string(text),
            with_style(text.to_string(), Style::Literal, None),
            with_style(text.to_string(), Style::SingleQuoted, None),
        ] {
            for placed in placements(node) {
                if let Err(e) = round_trip(&placed) {
                    panic!("{text:?}: {e}");
                }
            }
        }
    }
}
