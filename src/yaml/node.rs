//! The document model every other module works on: a YAML tree that keeps each
//! scalar's text, style and tag exactly as read, so untouched values are written
//! back the way the author wrote them (a plain `0755` stays plain, `"yes"` stays
//! quoted) and the converter can tell `yes` from `"yes"`.

/// One YAML node and the line it started on (1-based; 0 for generated nodes).
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub line: usize,
    /// A collection written in flow style (`[a, b]`, `{k: v}`): written back so.
    pub flow: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Scalar(Scalar),
    Seq(Vec<Node>, Option<String>),
    /// Keys are scalar nodes; order is the author's.
    Map(Vec<(Node, Node)>, Option<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The value after escape processing (for plain scalars, also the source text).
    pub text: String,
    pub style: Style,
    /// A tag as written (`!!binary`, `!!str`, `!custom`).
    pub tag: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Plain,
    SingleQuoted,
    DoubleQuoted,
    Literal,
    Folded,
    /// A string we write: plain when no reader can retype it, else quoted.
    Auto,
}

/// Marks a number or boolean that a `{{ }}` template produced from a quoted
/// string: it reads as that value where Kubernetes wants one, and as the same
/// text, quietly, where it wants a string. Never written out.
pub const TEMPLATED: &str = "!polyaxon-krm/templated";

/// What a scalar means under the YAML 1.2 core schema (what kyaml and
/// serde readers see), keeping number text verbatim so nothing is rounded.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved<'a> {
    Null,
    Bool(bool),
    Int(&'a str),
    Float(&'a str),
    Str(&'a str),
}

impl Default for Node {
    fn default() -> Self {
        Node::map()
    }
}

impl Node {
    pub fn new(value: Value) -> Self {
        Node {
            value,
            line: 0,
            flow: false,
        }
    }

    pub fn string(text: impl Into<String>) -> Self {
        Node::new(Value::Scalar(Scalar {
            text: text.into(),
            style: Style::Auto,
            tag: None,
        }))
    }

    /// A plain scalar such as a number or boolean written by us.
    pub fn plain(text: impl Into<String>) -> Self {
        Node::new(Value::Scalar(Scalar {
            text: text.into(),
            style: Style::Plain,
            tag: None,
        }))
    }

    pub fn int(n: i64) -> Self {
        Node::plain(n.to_string())
    }

    pub fn bool(b: bool) -> Self {
        Node::plain(if b { "true" } else { "false" })
    }

    pub fn map() -> Self {
        Node::new(Value::Map(Vec::new(), None))
    }

    pub fn seq(items: Vec<Node>) -> Self {
        Node::new(Value::Seq(items, None))
    }

    pub fn with_flow(mut self, flow: bool) -> Self {
        self.flow = flow;
        self
    }

    pub fn with_line(mut self, line: usize) -> Self {
        self.line = line;
        self
    }

    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&Vec<(Node, Node)>> {
        match &self.value {
            Value::Map(m, _) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Vec<(Node, Node)>> {
        match &mut self.value {
            Value::Map(m, _) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&Vec<Node>> {
        match &self.value {
            Value::Seq(s, _) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.resolve(), Some(Resolved::Null))
    }

    /// The string value of a scalar that means a string (not `true`, `1` or `~`).
    pub fn as_str(&self) -> Option<&str> {
        match self.resolve()? {
            Resolved::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The text of any scalar, whatever it resolves to.
    pub fn scalar_text(&self) -> Option<&str> {
        self.as_scalar().map(|s| s.text.as_str())
    }

    pub fn resolve(&self) -> Option<Resolved<'_>> {
        self.as_scalar().map(Scalar::resolve)
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?
            .iter_mut()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| node.get(key))
    }

    /// The items of the list under `key`; none when it is absent or not a list.
    pub fn items(&self, key: &str) -> std::slice::Iter<'_, Node> {
        self.get(key)
            .and_then(Node::as_seq)
            .map_or([].iter(), |items| items.iter())
    }

    /// Appends to the list under `key`, creating it (or replacing a non-list).
    pub fn push(&mut self, key: &str, item: Node) {
        match self.get_mut(key) {
            Some(Node {
                value: Value::Seq(items, _),
                ..
            }) => items.push(item),
            _ => self.set(key, Node::seq(vec![item])),
        }
    }

    /// Sets `key` in a mapping, replacing an existing value in place or appending.
    /// Does nothing on a non-mapping.
    pub fn set(&mut self, key: &str, value: Node) {
        if let Some(map) = self.as_map_mut() {
            if let Some(slot) = map.iter_mut().find(|(k, _)| k.scalar_text() == Some(key)) {
                slot.1 = value;
            } else {
                map.push((Node::key(key), value));
            }
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Node> {
        let map = self.as_map_mut()?;
        let at = map.iter().position(|(k, _)| k.scalar_text() == Some(key))?;
        Some(map.remove(at).1)
    }

    /// A mapping key written by us: plain when that reads back as the same string.
    pub fn key(text: &str) -> Node {
        Node::string(text)
    }

    /// The mapping under `key`, created (or replacing a non-mapping) when needed.
    pub fn map_entry(&mut self, key: &str) -> Option<&mut Node> {
        if self.get(key).is_none_or(|n| n.as_map().is_none()) {
            self.set(key, Node::map());
        }
        self.get_mut(key)
    }

    /// Applies YAML merge keys (`<<: *base`, `<<: [*a, *b]`) in place, as
    /// kubectl, kustomize and PyYAML do when they read the document: keys
    /// already present win, and the `<<` entry goes away. Used on the parts we
    /// interpret, so a merged field cannot escape our checks.
    /// Does any mapping in this tree hold a merge key (`<<`)?
    pub fn has_merge_keys(&self) -> bool {
        match &self.value {
            Value::Scalar(_) => false,
            Value::Seq(items, _) => items.iter().any(Node::has_merge_keys),
            Value::Map(entries, _) => entries.iter().any(|(k, v)| {
                k.as_scalar()
                    .is_some_and(|s| s.text == "<<" && s.style == Style::Plain)
                    || v.has_merge_keys()
            }),
        }
    }

    pub fn expand_merge_keys(&mut self) {
        match &mut self.value {
            Value::Scalar(_) => {}
            Value::Seq(items, _) => items.iter_mut().for_each(Node::expand_merge_keys),
            Value::Map(entries, _) => {
                for (_, v) in entries.iter_mut() {
                    v.expand_merge_keys();
                }
                let merges: Vec<Node> = entries
                    .iter()
                    .filter(|(k, _)| {
                        k.as_scalar()
                            .is_some_and(|s| s.text == "<<" && s.style == Style::Plain)
                    })
                    .map(|(_, v)| v.clone())
                    .collect();
                if merges.is_empty() {
                    return;
                }
                entries.retain(|(k, _)| {
                    !k.as_scalar()
                        .is_some_and(|s| s.text == "<<" && s.style == Style::Plain)
                });
                let sources: Vec<Node> = merges
                    .into_iter()
                    .flat_map(|m| match m.value {
                        Value::Seq(items, _) => items,
                        _ => vec![m],
                    })
                    .collect();
                for source in sources {
                    if let Value::Map(extra, _) = source.value {
                        for (k, v) in extra {
                            if !entries
                                .iter()
                                .any(|(e, _)| e.scalar_text() == k.scalar_text())
                            {
                                entries.push((k, v));
                            }
                        }
                    }
                }
            }
        }
    }

    /// Number of nodes in this tree (used for budgets).
    /// Weight and depth of this tree, for the alias budget: one per node plus
    /// one per 64 bytes of scalar text (so an alias of a huge scalar counts).
    pub fn weight_and_depth(&self) -> (usize, usize) {
        match &self.value {
            Value::Scalar(s) => (1 + s.text.len() / 64, 0),
            Value::Seq(items, _) => items.iter().fold((1, 1), |(w, d), i| {
                let (iw, id) = i.weight_and_depth();
                (w.saturating_add(iw), d.max(id + 1))
            }),
            Value::Map(entries, _) => entries.iter().fold((1, 1), |(w, d), (k, v)| {
                let (kw, _) = k.weight_and_depth();
                let (vw, vd) = v.weight_and_depth();
                (w.saturating_add(kw).saturating_add(vw), d.max(vd + 1))
            }),
        }
    }

    pub fn count(&self) -> usize {
        match &self.value {
            Value::Scalar(_) => 1,
            Value::Seq(items, _) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Value::Map(entries, _) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| k.count() + v.count())
                    .sum::<usize>()
            }
        }
    }
}

impl Scalar {
    pub fn resolve(&self) -> Resolved<'_> {
        let text = self.text.as_str();
        match self.tag.as_deref() {
            Some("!!str") => return Resolved::Str(text),
            Some("!!null") => return Resolved::Null,
            Some("!!bool") => return Resolved::Bool(yaml11_bool(text) == Some(true)),
            Some("!!int") => return Resolved::Int(text),
            Some("!!float") => return Resolved::Float(text),
            Some(TEMPLATED) => return resolve_plain(text),
            Some(_) => return Resolved::Str(text),
            None => {}
        }
        if self.style != Style::Plain {
            return Resolved::Str(text);
        }
        resolve_plain(text)
    }

    /// A plain `yes`/`no`/`on`/`off`/`y`/`n` that YAML 1.1 readers (PyYAML,
    /// hence Polyaxon; go-yaml v2, hence kubectl) read as a boolean.
    pub fn yaml11_bool(&self) -> Option<bool> {
        if self.style != Style::Plain || self.tag.is_some() {
            return None;
        }
        yaml11_bool(&self.text)
    }
}

pub fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            Some(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            Some(false)
        }
        _ => None,
    }
}

/// True when some YAML reader in use could read `text`, written as a plain
/// scalar, as something other than this string: YAML 1.1 (PyYAML, hence
/// Polyaxon; go-yaml v2, hence kubectl: booleans `yes`/`on`/`y`…, nulls,
/// octal `0755`, `0x1F`, `0b101`, `1_000`, sexagesimal `12:30`, `1e3`,
/// timestamps, the merge key `<<`, the value key `=`) or YAML 1.2 (yaml.v3,
/// hence kustomize; this crate). Conservative: anything that starts like a
/// number and is made only of characters numbers, dates and times use counts.
pub fn may_retype_plain(text: &str) -> bool {
    if yaml11_bool(text).is_some() || !matches!(resolve_plain(text), Resolved::Str(_)) {
        return true;
    }
    if matches!(text, "<<" | "=") {
        return true;
    }
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(body, ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let starts_like_number = body
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c == '.');
    starts_like_number
        && body.contains(|c: char| c.is_ascii_digit())
        && body.chars().all(|c| {
            c.is_ascii_hexdigit()
                || matches!(
                    c,
                    '_' | '.'
                        | ':'
                        | '+'
                        | '-'
                        | 'x'
                        | 'X'
                        | 'o'
                        | 'O'
                        | 't'
                        | 'T'
                        | 'z'
                        | 'Z'
                        | ' '
                        | '\t'
                )
        })
}

/// YAML 1.2 core schema resolution of a plain scalar.
pub fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    if is_core_int(text) {
        Resolved::Int(text)
    } else if is_core_float(text) {
        Resolved::Float(text)
    } else {
        Resolved::Str(text)
    }
}

/// The value of an integer scalar as kubectl (YAML 1.1) reads it: `0x1F`,
/// `0o17`, and a leading-zero `0440` as octal.
pub fn int_value(text: &str) -> Option<i64> {
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let magnitude = if let Some(hex) = body.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()?
    } else if let Some(oct) = body.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()?
    } else if body.len() > 1 && body.starts_with('0') {
        i64::from_str_radix(&body[1..], 8).ok()?
    } else if !body.is_empty() && body.bytes().all(|b| b.is_ascii_digit()) {
        body.parse().ok()?
    } else {
        return None;
    };
    Some(if negative { -magnitude } else { magnitude })
}

fn is_core_int(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if let Some(hex) = text.strip_prefix("0x") {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b));
    }
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_core_float(text: &str) -> bool {
    let body = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(body, ".inf" | ".Inf" | ".INF") || matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(at) => (&body[..at], Some(&body[at + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(at) => (&mantissa[..at], Some(&mantissa[at + 1..])),
        None => (mantissa, None),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match frac_part {
        Some(frac) => {
            all_digits(int_part) && all_digits(frac) && !(int_part.is_empty() && frac.is_empty())
        }
        None => !int_part.is_empty() && all_digits(int_part),
    };
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && all_digits(e)
    });
    mantissa_ok && exponent_ok && (frac_part.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain("12"), Resolved::Int("12"));
        assert_eq!(resolve_plain("-3"), Resolved::Int("-3"));
        assert_eq!(resolve_plain("0x1F"), Resolved::Int("0x1F"));
        assert_eq!(resolve_plain("1.10"), Resolved::Float("1.10"));
        assert_eq!(resolve_plain("1e3"), Resolved::Float("1e3"));
        assert_eq!(resolve_plain(".5"), Resolved::Float(".5"));
        assert_eq!(resolve_plain("~"), Resolved::Null);
        assert_eq!(resolve_plain("yes"), Resolved::Str("yes"));
        assert_eq!(resolve_plain("1_000"), Resolved::Str("1_000"));
        assert_eq!(resolve_plain("12:30"), Resolved::Str("12:30"));
        assert_eq!(resolve_plain("."), Resolved::Str("."));
        assert_eq!(resolve_plain("1."), Resolved::Float("1."));
        assert_eq!(resolve_plain("e3"), Resolved::Str("e3"));
    }

    #[test]
    fn retypable_plain_texts() {
        for text in [
            "yes",
            "No",
            "ON",
            "off",
            "y",
            "N",
            "true",
            "TRUE",
            "null",
            "~",
            "",
            "0755",
            "012",
            "08",
            "1e3",
            "1E3",
            "0x1F",
            "0X1F",
            "0o17",
            "0b101",
            "1_000",
            "12:30",
            "1:20:30",
            ".inf",
            "-.inf",
            ".NaN",
            "+1",
            "-0",
            "1.",
            ".5",
            "2001-12-14",
            "2001-12-14t21:59:43.10-05:00",
            "<<",
            "=",
            "1__0",
            "1.2.3",
        ] {
            assert!(may_retype_plain(text), "{text:?}");
        }
        for text in [
            "v1", "1Gi", "100m", "0.5Gi", "1e3m", "Infinity", "...", ".", "a:b", "web", "yes!",
            "1,000",
        ] {
            assert!(!may_retype_plain(text), "{text:?}");
        }
    }

    #[test]
    fn tagged_scalars_resolve_by_tag() {
        let tagged = |text: &str, tag: &str| Scalar {
            text: text.to_string(),
            style: Style::Plain,
            tag: Some(tag.to_string()),
        };
        assert_eq!(tagged("yes", "!!bool").resolve(), Resolved::Bool(true));
        assert_eq!(tagged("off", "!!bool").resolve(), Resolved::Bool(false));
        assert_eq!(tagged("12", "!!str").resolve(), Resolved::Str("12"));
        assert_eq!(tagged("12", "!").resolve(), Resolved::Str("12"));
    }
}
