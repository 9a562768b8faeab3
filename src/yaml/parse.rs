//! YAML text → [`Node`] documents, with the limits that keep hostile input
//! (alias bombs, deep nesting, huge scalars) from exhausting memory.

use std::collections::HashMap;
use std::ops::Range;

use granit_parser::{Event, Options, Parser, ScalarStyle, Span, StructureStyle, Tag};

use super::node::{Node, Scalar, Style, Value};

/// Limits on what one input may make us build. Each is a command-line flag.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_scalar_bytes: usize,
    pub max_documents: usize,
    /// Nodes that aliases may add by copying anchored subtrees.
    pub max_alias_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 256,
            max_scalar_bytes: 16 << 20,
            max_documents: 1_000_000,
            max_alias_nodes: 1_000_000,
        }
    }
}

/// One document of a stream: its root (None when empty), where it starts, and
/// the byte range of its source text.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub root: Option<Node>,
    pub line: usize,
    pub source: Range<usize>,
    /// Text that writes a node exactly as read, so a caller that leaves the
    /// node untouched can copy it instead of emitting it again.
    pub copyable: Copyable,
}

/// Byte ranges of the input that are, on their own, the YAML of a block
/// mapping: the document's root when it starts at column 0, and the entries
/// of block sequences directly under the root mapping that start right after
/// a `- ` at column 0 (how kpt and kustomize write `items:`). A range runs
/// from the node's first character to the start of the line of whatever
/// follows it, so it keeps every line of its block scalars (trailing blank
/// lines of `|+` included) and ends with a line break unless the input ends
/// first. Nodes holding anchors, aliases or tags get none: their text means
/// something else out of context.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Copyable {
    pub root: Option<Verbatim>,
    /// Some entry was pruned: this document's tree is whole only if read again.
    pub pruned_entries: bool,
    /// Per key of the root mapping whose value is a block sequence: one entry
    /// per item, `None` where the item cannot be copied.
    pub entries: Vec<(String, Vec<Option<Verbatim>>)>,
}

impl Copyable {
    pub fn entries_of(&self, key: &str) -> Option<&[Option<Verbatim>]> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, ranges)| ranges.as_slice())
    }
}

/// Input text that writes one node exactly as read, and the place it fits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verbatim {
    pub range: Range<usize>,
    pub place: Place,
    /// The caller's `prune` cut the node's tree down to what it reads: this
    /// text is then the only whole copy, and must be what is written.
    pub pruned: bool,
}

/// Where a node offered to `prune` sits.
#[derive(Clone, Copy, Debug)]
pub enum Offered<'a> {
    /// A document's root.
    Root,
    /// An item of the block sequence under `key` of the root mapping, whose
    /// entries read so far (those written before `key`) are `siblings`.
    Entry {
        key: &'a str,
        siblings: &'a [(Node, Node)],
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A document body at column 0.
    Document,
    /// What follows `- ` at column 0 (its other lines are indented by two).
    SeqEntry,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    pub message: String,
    pub line: usize,
    pub column: usize,
}

impl YamlError {
    /// How a message about this error starts: over one of our limits (the
    /// text may be fine YAML) or not YAML at all.
    pub fn what(&self) -> &'static str {
        if self.message.contains("(--max-") {
            "over a limit"
        } else {
            "not valid YAML"
        }
    }

    fn at(span: &Span, message: impl Into<String>) -> Self {
        YamlError {
            message: message.into(),
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

enum Frame {
    Seq {
        /// Where its items start in the shared `children` stack.
        base: usize,
        anchor: usize,
        tag: Option<String>,
        line: usize,
        flow: bool,
        /// Verbatim texts of the items, for a block sequence under the root.
        sources: Vec<Option<Verbatim>>,
    },
    Map {
        /// Where its entries start in the shared `pairs` stack.
        base: usize,
        pending_key: Option<Node>,
        /// The keys so far, once the mapping is large (duplicate checks stay linear).
        seen: Option<std::collections::HashSet<String>>,
        anchor: usize,
        tag: Option<String>,
        line: usize,
        flow: bool,
        /// Where the mapping's text starts, and the count of anchors,
        /// aliases and tags read before it.
        start: usize,
        specials: usize,
    },
}

/// Decides whether a node that will be written from its text may be cut
/// down to its identity (see [`parse_stream_pruning`]). Called from two
/// threads when a large input is read in two parts.
pub type Prune<'a> = dyn Fn(&Node, Offered<'_>) -> bool + Sync + 'a;

/// Parses a whole stream. CRLF is read as LF; a leading BOM is skipped.
pub fn parse_stream(text: &str, limits: &Limits) -> Result<Vec<Document>, YamlError> {
    parse_stream_pruning(text, limits, &|_, _| false)
}

/// Parses a whole stream, asking `prune` about each node that gets a
/// [`Verbatim`] text as soon as it is read: where it says yes (a caller that
/// will write the node from its text and reads only its identity), the tree
/// is cut down to [`super::IDENTITY_FIELDS`], so a large input never holds
/// all its trees at once.
pub fn parse_stream_pruning(
    text: &str,
    limits: &Limits,
    prune: &Prune<'_>,
) -> Result<Vec<Document>, YamlError> {
    parse_stream_split_from(text, limits, prune, super::split::MIN_BYTES)
}

/// [`parse_stream_pruning`], reading the input in two parts on two threads
/// when it is at least `min_split_bytes` long and has a place where that is
/// provably the same (see [`super::split`]).
pub(super) fn parse_stream_split_from(
    text: &str,
    limits: &Limits,
    prune: &Prune<'_>,
    min_split_bytes: usize,
) -> Result<Vec<Document>, YamlError> {
    if text.len() >= min_split_bytes
        && let Some(documents) = super::split::parse_in_two(text, limits, prune)
    {
        return Ok(documents);
    }
    parse_chunk(text, limits, prune, Chunk::WHOLE).map(|read| read.documents)
}

/// Where a chunk of text sits in the whole input, and what it is.
#[derive(Clone, Copy)]
pub(super) struct Chunk<'a> {
    /// Bytes and lines of the input before the chunk.
    pub byte: usize,
    pub lines: usize,
    pub role: Role<'a>,
}

impl Chunk<'_> {
    pub const WHOLE: Chunk<'static> = Chunk {
        byte: 0,
        lines: 0,
        role: Role::Whole,
    };
}

#[derive(Clone, Copy)]
pub(super) enum Role<'a> {
    /// The whole input.
    Whole,
    /// A part whose first or last document goes on in another chunk: its
    /// roots are offered to `prune` once joined, not here.
    Part,
    /// A run of entries of a block sequence at column 0 under `key` of a root
    /// mapping whose entries before `key` are `siblings`: read as a root
    /// sequence, whose entries are offered to `prune` as that sequence's.
    Entries {
        key: &'a str,
        siblings: &'a [(Node, Node)],
    },
}

/// What reading a chunk gives: its documents, and what joining it to its
/// neighbours must check.
pub(super) struct ChunkRead {
    pub documents: Vec<Document>,
    pub alias_nodes: usize,
    /// Anchors, aliases and tags read.
    pub specials: usize,
    /// Where the last value read ends, in the whole input.
    pub content_end: usize,
    /// The key of the last block sequence read as the value of a key of a
    /// root mapping.
    pub last_root_seq: Option<String>,
    /// Where the first document's root starts, when it is a block mapping.
    pub first_root_map: Option<usize>,
    /// The text ends in an empty value (`? key` with no `:`, a block scalar
    /// with no content line): where the parser puts it depends on what
    /// follows.
    pub empty_value_at_end: bool,
}

/// Reads one chunk of the input (all of it, for [`Chunk::WHOLE`]).
pub(super) fn parse_chunk(
    text: &str,
    limits: &Limits,
    prune: &Prune<'_>,
    chunk: Chunk<'_>,
) -> Result<ChunkRead, YamlError> {
    let mut options = Options::default();
    options.emit_comments = false;
    options.block_nesting_limit = limits.max_depth;
    options.flow_nesting_limit = limits.max_depth;
    let source_len = text.len();
    let mut parser = Parser::new_from_str_with_options(text, options);
    let mut last_root_seq = None;
    let mut first_root_map = None;
    let mut empty_value_at_end = false;
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut open = Open::default();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut alias_nodes = 0usize;
    let mut root: Option<Node> = None;
    let mut doc_start = 0usize;
    let mut doc_line = 1usize;
    let mut copyable = Copyable::default();
    // Anchors, aliases and tags read so far: a node whose text holds one is
    // not copied verbatim.
    let mut specials = 0usize;
    // Ranges are lines of the input; with CR line breaks they would mix
    // breaks in the output, so such input is always emitted.
    let plain_breaks = !text.contains('\r');
    let mut content_end = 0usize;

    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| {
            let info = e.info();
            // The parser's own nesting guard trips before ours on some inputs.
            let message = if info.contains("recursion limit") || info.contains("nesting limit") {
                format!(
                    "nesting deeper than {} levels (--max-depth)",
                    limits.max_depth
                )
            } else {
                info
            };
            YamlError {
                message,
                line: e.marker().line() + chunk.lines,
                column: e.marker().col() + 1,
            }
        })?;
        let line = span.start.line() + chunk.lines;
        // Where the last value read ends (a block collection ends where the
        // next token starts, which may be lines further on).
        match &event {
            // An empty value (`key:`, `: value`, `-`) is read at its
            // indicator: that character is its text. (A block scalar with
            // no content line is read where its content would start, past
            // its header line: its text is already there.)
            Event::Scalar(_, ScalarStyle::Plain, ..)
                if span.start.byte_offset().is_some()
                    && span.start.byte_offset() == span.end.byte_offset() =>
            {
                content_end = (span_end(&span, content_end) + 1).min(text.len())
            }
            Event::Scalar(..) | Event::Alias(_) => content_end = span_end(&span, content_end),
            Event::SequenceEnd | Event::MappingEnd
                if matches!(
                    stack.last(),
                    Some(Frame::Seq { flow: true, .. } | Frame::Map { flow: true, .. })
                ) =>
            {
                content_end = span_end(&span, content_end)
            }
            _ => {}
        }
        // Counted after the event is handled, so that a collection's own
        // anchor or tag counts as inside it.
        let event_specials = match &event {
            Event::Alias(_) => 1,
            Event::Scalar(_, _, anchor, tag)
            | Event::SequenceStart(_, anchor, tag)
            | Event::MappingStart(_, anchor, tag) => {
                usize::from(*anchor != 0) + usize::from(tag.is_some())
            }
            _ => 0,
        };
        let finished: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd => None,
            Event::DocumentStart(..) => {
                doc_start = chunk.byte + span.start.byte_offset().unwrap_or(0);
                doc_line = line;
                root = None;
                copyable = Copyable::default();
                anchors.clear();
                None
            }
            Event::DocumentEnd => {
                if documents.len() >= limits.max_documents {
                    return Err(YamlError::at(
                        &span,
                        format!(
                            "more than {} documents (--max-documents)",
                            limits.max_documents
                        ),
                    ));
                }
                let end = chunk.byte + span.end.byte_offset().unwrap_or(text.len());
                documents.push(Document {
                    root: root.take(),
                    line: doc_line,
                    source: doc_start..end.max(doc_start),
                    copyable: std::mem::take(&mut copyable),
                });
                None
            }
            Event::Alias(id) => {
                let node = anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| YamlError::at(&span, "alias to an unknown anchor"))?;
                let (weight, depth) = node.weight_and_depth();
                if stack.len() + depth > limits.max_depth {
                    return Err(YamlError::at(
                        &span,
                        format!(
                            "an alias nests deeper than {} levels (--max-depth)",
                            limits.max_depth
                        ),
                    ));
                }
                alias_nodes = alias_nodes.saturating_add(weight);
                if alias_nodes > limits.max_alias_nodes {
                    return Err(YamlError::at(
                        &span,
                        format!(
                            "aliases expand to more than {} nodes (each 64 bytes of text counts as one; an alias bomb?); --max-alias-nodes raises the limit",
                            limits.max_alias_nodes
                        ),
                    ));
                }
                Some((node.with_line(line), 0))
            }
            Event::Scalar(text, style, anchor, tag) => {
                // An empty value is placed at the token after it, or at
                // the end of the text; a block scalar with no content line
                // is read from its header at the end of the text, from the
                // next line otherwise.
                empty_value_at_end = span.end.byte_offset() == Some(source_len)
                    && (span.start.byte_offset() == span.end.byte_offset()
                        || matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                            && text.bytes().all(|b| b == b'\n'));
                if text.len() > limits.max_scalar_bytes {
                    return Err(YamlError::at(
                        &span,
                        format!(
                            "a scalar of {} bytes is over the limit of {} (--max-scalar-bytes)",
                            text.len(),
                            limits.max_scalar_bytes
                        ),
                    ));
                }
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted => Style::SingleQuoted,
                    ScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    ScalarStyle::Literal => Style::Literal,
                    ScalarStyle::Folded => Style::Folded,
                };
                let scalar = Scalar {
                    text: text.into_owned(),
                    style,
                    tag: tag.map(|t| tag_text(&t)),
                };
                Some((Node::new(Value::Scalar(scalar)).with_line(line), anchor))
            }
            Event::SequenceStart(style, anchor, tag) => {
                check_depth(&stack, limits, &span)?;
                stack.push(Frame::Seq {
                    base: open.children.len(),
                    anchor,
                    tag: tag.map(|t| tag_text(&t)),
                    line,
                    flow: style == StructureStyle::Flow,
                    sources: Vec::new(),
                });
                None
            }
            Event::MappingStart(style, anchor, tag) => {
                check_depth(&stack, limits, &span)?;
                if stack.is_empty() && documents.is_empty() && style == StructureStyle::Block {
                    first_root_map = span.start.byte_offset().map(|at| chunk.byte + at);
                }
                stack.push(Frame::Map {
                    base: open.pairs.len(),
                    pending_key: None,
                    seen: None,
                    anchor,
                    tag: tag.map(|t| tag_text(&t)),
                    line,
                    flow: style == StructureStyle::Flow,
                    start: span.start.byte_offset().unwrap_or(usize::MAX),
                    specials,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    base,
                    anchor,
                    tag,
                    line,
                    flow,
                    mut sources,
                }) => {
                    // One allocation of the exact size, no growth on the way.
                    let items: Vec<Node> = open.children.drain(base..).collect();
                    let under_root_key = match (stack.as_slice(), chunk.role) {
                        (
                            [
                                Frame::Map {
                                    pending_key: Some(key),
                                    ..
                                },
                            ],
                            _,
                        ) => key.scalar_text(),
                        ([], Role::Entries { key, .. }) => Some(key),
                        _ => None,
                    };
                    if !flow && let Some(key) = under_root_key {
                        sources.resize(items.len(), None);
                        copyable.entries.push((key.to_string(), sources));
                        last_root_seq = Some(key.to_string());
                    }
                    Some((
                        Node::new(Value::Seq(items, tag))
                            .with_line(line)
                            .with_flow(flow),
                        anchor,
                    ))
                }
                _ => return Err(YamlError::at(&span, "unbalanced sequence end")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    base,
                    anchor,
                    tag,
                    line,
                    flow,
                    start,
                    specials: specials_before,
                    ..
                }) => {
                    let entries: Vec<(Node, Node)> = open.pairs.drain(base..).collect();
                    let mut node = Node::new(Value::Map(entries, tag))
                        .with_line(line)
                        .with_flow(flow);
                    if plain_breaks && !flow && specials == specials_before {
                        record_verbatim(
                            text,
                            Extent {
                                start,
                                content_end,
                                next: span.start.byte_offset().unwrap_or(0),
                            },
                            &mut node,
                            &mut stack,
                            &open,
                            &mut copyable,
                            (prune, chunk),
                        );
                    }
                    Some((node, anchor))
                }
                _ => return Err(YamlError::at(&span, "unbalanced mapping end")),
            },
            _ => None,
        };
        specials += event_specials;
        if let Some((node, anchor)) = finished {
            if anchor != 0 {
                anchors.insert(anchor, node.clone());
            }
            attach(&mut stack, &mut open, &mut root, node, &span)?;
        }
    }
    Ok(ChunkRead {
        documents,
        alias_nodes,
        specials,
        content_end: chunk.byte + content_end,
        last_root_seq,
        first_root_map,
        empty_value_at_end,
    })
}

/// Notes the text of a block mapping that just ended (from its start to the
/// end of the line where its last value ends) when it is the document's root
/// or an item of a block sequence directly under the root mapping, and
/// offers the node to `prune`. Comment lines after it belong to whatever
/// follows.
/// Where a block mapping's text lies: its first character, the end of its
/// last value, and the start of the token after it.
struct Extent {
    start: usize,
    content_end: usize,
    next: usize,
}

fn record_verbatim(
    text: &str,
    Extent {
        start,
        content_end,
        next,
    }: Extent,
    node: &mut Node,
    stack: &mut [Frame],
    open: &Open,
    copyable: &mut Copyable,
    (prune, chunk): (&Prune<'_>, Chunk<'_>),
) {
    let offer = |node: &mut Node, offered: Offered<'_>| {
        let pruned = prune(node, offered);
        if pruned {
            super::prune_to_identity(node);
        }
        pruned
    };
    let Some(range) = block_text(text, start, content_end) else {
        return;
    };
    // Whatever follows starts on a later line: a range reaching into that
    // line would be a misreading of where the node ends.
    if next < text.len() && range.end > next {
        return;
    }
    let range = chunk.byte + range.start..chunk.byte + range.end;
    let at_line_start = |at: usize| at == 0 || text.as_bytes().get(at - 1) == Some(&b'\n');
    let after_dash =
        start >= 2 && text.get(start - 2..start) == Some("- ") && at_line_start(start - 2);
    // An item of a column-0 block sequence under a key of the root mapping
    // (or, for a run of entries read alone, of the root sequence).
    let entry = match (stack, chunk.role) {
        ([], Role::Whole | Role::Part) => {
            if at_line_start(start) {
                let pruned = matches!(chunk.role, Role::Whole) && offer(node, Offered::Root);
                copyable.root = Some(Verbatim {
                    range,
                    place: Place::Document,
                    pruned,
                });
            }
            return;
        }
        (
            [
                Frame::Seq {
                    base,
                    flow: false,
                    sources,
                    ..
                },
            ],
            Role::Entries { key, siblings },
        ) => (key, siblings, base, sources),
        (
            [
                Frame::Map {
                    base: root_base,
                    pending_key: Some(key),
                    ..
                },
                Frame::Seq {
                    base,
                    flow: false,
                    sources,
                    ..
                },
            ],
            Role::Whole | Role::Part,
        ) => (
            key.scalar_text().unwrap_or_default(),
            open.pairs.get(*root_base..).unwrap_or_default(),
            base,
            sources,
        ),
        _ => return,
    };
    let (key, siblings, base, sources) = entry;
    if after_dash {
        let pruned = offer(node, Offered::Entry { key, siblings });
        copyable.pruned_entries |= pruned;
        sources.resize(open.children.len() - *base, None);
        sources.push(Some(Verbatim {
            range,
            place: Place::SeqEntry,
            pruned,
        }));
    }
}

/// `start..` the end of the line holding `content_end` (a block scalar's
/// value ends at the start of the line after it, trailing blank lines of
/// `|+` included). None when the text ends before a line break: a `|+`
/// scalar's value would change when one is added.
fn block_text(text: &str, start: usize, content_end: usize) -> Option<Range<usize>> {
    let end = line_end_after(text, content_end)?;
    (start < end).then_some(start..end)
}

/// The end of the line holding `content_end` (after its line break), or
/// `content_end` itself when a line break is right before it.
pub(super) fn line_end_after(text: &str, content_end: usize) -> Option<usize> {
    if content_end > 0 && text.as_bytes().get(content_end - 1) == Some(&b'\n') {
        Some(content_end)
    } else {
        Some(content_end + text.get(content_end..)?.find('\n')? + 1)
    }
}

fn span_end(span: &Span, fallback: usize) -> usize {
    span.end.byte_offset().unwrap_or(fallback)
}

fn check_depth(stack: &[Frame], limits: &Limits, span: &Span) -> Result<(), YamlError> {
    if stack.len() >= limits.max_depth {
        return Err(YamlError::at(
            span,
            format!(
                "nesting deeper than {} levels (--max-depth)",
                limits.max_depth
            ),
        ));
    }
    Ok(())
}

/// Children of the open collections, kept on two shared stacks (one for
/// sequence items, one for mapping entries) and moved into a vector of the
/// exact size when their collection ends.
#[derive(Default)]
struct Open {
    children: Vec<Node>,
    pairs: Vec<(Node, Node)>,
}

fn attach(
    stack: &mut [Frame],
    open: &mut Open,
    root: &mut Option<Node>,
    node: Node,
    span: &Span,
) -> Result<(), YamlError> {
    match stack.last_mut() {
        None => *root = Some(node),
        Some(Frame::Seq { .. }) => open.children.push(node),
        Some(Frame::Map {
            base,
            pending_key,
            seen,
            ..
        }) => match pending_key.take() {
            None => {
                let Some(key) = node.as_scalar() else {
                    return Err(YamlError::at(
                        span,
                        "a mapping key must be a scalar (Kubernetes objects are JSON)",
                    ));
                };
                let entries = &open.pairs[*base..];
                const SMALL: usize = 32;
                if seen.is_none() && entries.len() >= SMALL {
                    *seen = Some(
                        entries
                            .iter()
                            .filter_map(|(k, _)| k.scalar_text().map(str::to_string))
                            .collect(),
                    );
                }
                let duplicate = match seen {
                    Some(set) => !set.insert(key.text.clone()),
                    None => entries
                        .iter()
                        .any(|(k, _)| k.as_scalar().is_some_and(|s| s.text == key.text)),
                };
                if duplicate {
                    return Err(YamlError::at(
                        span,
                        format!("duplicate mapping key {:?}", key.text),
                    ));
                }
                *pending_key = Some(node);
            }
            Some(key) => open.pairs.push((key, node)),
        },
    }
    Ok(())
}

/// The tag as it is written back: `!!name` for the YAML namespace
/// (`tag:yaml.org,2002:`, however it was spelled or split by `%TAG`), `!name`
/// for local tags, `!` for the non-specific tag, `!<uri>` for everything else
/// (our output carries no `%TAG` directives). Characters a tag cannot hold as
/// they are (decoded `%xx` escapes, `!` or flow indicators in a suffix) are
/// escaped again.
fn tag_text(tag: &Tag) -> String {
    const YAML_NS: &str = "tag:yaml.org,2002:";
    if let Some(name) = tag.suffix_in_namespace(YAML_NS)
        && !name.is_empty()
    {
        return format!("!!{}", escape_tag(&name, true));
    }
    let full = format!("{}{}", tag.handle(), tag.suffix());
    match full.strip_prefix('!') {
        Some("") => "!".to_string(),
        Some(local) => format!("!{}", escape_tag(local, true)),
        None => format!("!<{}>", escape_tag(&full, false)),
    }
}

/// Percent-encodes what a tag may not hold: in a shorthand suffix
/// (`!name`, `!!name`) only ns-tag-char (URI characters less `!` and the flow
/// indicators), in a verbatim `!<…>` tag any URI character.
fn escape_tag(text: &str, shorthand: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let keep = c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '#'
                    | ';'
                    | '/'
                    | '?'
                    | ':'
                    | '@'
                    | '&'
                    | '='
                    | '+'
                    | '$'
                    | '_'
                    | '.'
                    | '~'
                    | '*'
                    | '\''
                    | '('
                    | ')'
            )
            || (!shorthand && matches!(c, '!' | ',' | '[' | ']'));
        if keep {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for byte in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Vec<Document> {
        parse_stream(text, &Limits::default()).expect("parses")
    }

    #[test]
    fn keeps_style_and_lines() {
        let docs = parse("a: 'yes'\nb: yes\nc: |\n  x\n");
        let root = docs[0].root.as_ref().expect("root");
        assert_eq!(root.get("a").and_then(Node::as_str), Some("yes"));
        assert_eq!(root.get("b").and_then(Node::as_str), Some("yes"));
        assert_eq!(
            root.get("b").and_then(|n| n.as_scalar()?.yaml11_bool()),
            Some(true)
        );
        assert_eq!(root.get("b").map(|n| n.line), Some(2));
    }

    #[test]
    fn multi_document_stream_with_markers() {
        let docs = parse("---\na: 1\n...\n---\nb: 2\n---\n");
        assert_eq!(docs.len(), 3);
        assert!(docs[2].root.is_none() || docs[2].root.as_ref().is_some_and(Node::is_null));
    }

    #[test]
    fn rejects_duplicate_keys() {
        let err = parse_stream("a: 1\na: 2\n", &Limits::default()).expect_err("dup");
        assert!(err.message.contains("duplicate"), "{err}");
    }

    #[test]
    fn alias_bomb_is_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n",
                p = i - 1
            ));
        }
        let err = parse_stream(&text, &Limits::default()).expect_err("bomb");
        assert!(err.message.contains("alias"), "{err}");
    }

    #[test]
    fn tags_are_written_in_a_form_that_reads_back() {
        let text = "%TAG !m! tag:yaml.org,2002:i\n%TAG !e! tag:example.com,2000:app/\n---\n\
            a: !m!nt 1\n\
            b: !<tag:yaml.org,2002:binary> aGVsbG8=\n\
            c: !!timestamp 2001-01-01\n\
            d: ! 12\n\
            e: !e%21x 1\n\
            f: !e!foo 1\n\
            g: !<tag:x.com,2000:a%20b> 1\n\
            h: !local 1\n";
        let docs = parse(text);
        let root = docs[0].root.as_ref().expect("root");
        let tag = |key: &str| {
            root.get(key)
                .and_then(Node::as_scalar)
                .and_then(|s| s.tag.clone())
                .expect("tag")
        };
        assert_eq!(tag("a"), "!!int");
        assert_eq!(tag("b"), "!!binary");
        assert_eq!(tag("c"), "!!timestamp");
        assert_eq!(tag("d"), "!");
        assert_eq!(tag("e"), "!e%21x");
        assert_eq!(tag("f"), "!<tag:example.com,2000:app/foo>");
        assert_eq!(tag("g"), "!<tag:x.com,2000:a%20b>");
        assert_eq!(tag("h"), "!local");
        // Written without the directives, every tag reads back the same.
        let written = crate::yaml::to_string(root);
        let again = parse(&written);
        let again_root = again[0].root.as_ref().expect("root");
        for key in ["a", "b", "c", "d", "e", "f", "g", "h"] {
            assert_eq!(
                again_root
                    .get(key)
                    .and_then(|n| n.as_scalar())
                    .map(|s| &s.tag),
                root.get(key).and_then(|n| n.as_scalar()).map(|s| &s.tag),
                "{key} in {written}"
            );
        }
    }

    fn copied_items(text: &str) -> Vec<Option<&str>> {
        let docs = parse(text);
        docs[0]
            .copyable
            .entries_of("items")
            .unwrap_or(&[])
            .iter()
            .map(|v| match v {
                Some(Verbatim {
                    range,
                    place: Place::SeqEntry,
                    ..
                }) => Some(&text[range.clone()]),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn items_keep_their_text_and_nothing_after_it() {
        let text = "items:\n- a: 1 # kpt-set: ${a}\n  b: |+\n    x\n\n# head of the next item\n- c: [1, 2]\n  d: \"q\"\nfunctionConfig:\n  x: 1\n";
        assert_eq!(
            copied_items(text),
            vec![
                // Trailing blank lines of `|+` are its value.
                Some("a: 1 # kpt-set: ${a}\n  b: |+\n    x\n\n"),
                Some("c: [1, 2]\n  d: \"q\"\n"),
            ]
        );
    }

    #[test]
    fn items_whose_text_means_something_else_alone_are_not_copied() {
        // An anchor or alias, a tag, a dash on its own line, a flow item, an
        // indented sequence, a missing final line break.
        let text = "items:\n- a: &x 1\n- b: *x\n- c: !!str 1\n-\n  d: 1\n- {e: 1}\n- f: 1\n";
        assert_eq!(
            copied_items(text),
            vec![None, None, None, None, None, Some("f: 1\n")]
        );
        assert_eq!(
            copied_items("items:\n- !!map\n  a: 1\n- &x\n  b: 1\n"),
            vec![None, None]
        );
        assert_eq!(copied_items("items:\n  - a: 1\n"), vec![None]);
        // Empty values end at their indicator's line, not before it.
        assert_eq!(
            copied_items("kind: List\nitems:\n- a: 1\n  b:\n- c: 1\n  ? d\n  :\n- e:\n  -\n"),
            vec![
                Some("a: 1\n  b:\n"),
                Some("c: 1\n  ? d\n  :\n"),
                Some("e:\n  -\n")
            ]
        );
        assert_eq!(copied_items("items:\n- a: |+\n    x"), vec![None]);
        assert_eq!(copied_items("items:\r\n- a: 1\r\n"), vec![None]);
    }

    #[test]
    fn stream_roots_keep_their_text() {
        let text = "a: 1\n# before b\n---\nb: |\n  x\n...\n";
        let docs = parse(text);
        let root = |i: usize| match &docs[i].copyable.root {
            Some(Verbatim {
                range,
                place: Place::Document,
                ..
            }) => Some(&text[range.clone()]),
            _ => None,
        };
        assert_eq!(root(0), Some("a: 1\n"));
        assert_eq!(root(1), Some("b: |\n  x\n"));
        let text = "a: 1\n:\t\n";
        let docs = parse(text);
        assert!(
            matches!(&docs[0].copyable.root, Some(Verbatim { range, .. }) if &text[range.clone()] == text)
        );
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let text = "[".repeat(10_000);
        assert!(parse_stream(&text, &Limits::default()).is_err());
    }
}
