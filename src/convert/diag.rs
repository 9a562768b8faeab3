//! Collects the findings of one item's conversion, with field paths.

use std::fmt::{self, Display};

use crate::results::Finding;

#[derive(Default, Debug)]
pub struct Diag {
    pub findings: Vec<Finding>,
}

impl Diag {
    pub fn error(&mut self, path: impl Display, message: impl Into<String>) {
        self.findings
            .push(Finding::error(message).at(path.to_string()));
    }

    pub fn warning(&mut self, path: impl Display, message: impl Into<String>) {
        self.findings
            .push(Finding::warning(message).at(path.to_string()));
    }

    pub fn info(&mut self, path: impl Display, message: impl Into<String>) {
        self.findings
            .push(Finding::info(message).at(path.to_string()));
    }

    /// Checks a mapping's keys against `known` (see [`crate::results::check_fields`]).
    pub fn check_fields(
        &mut self,
        node: &crate::yaml::Node,
        known: &[&str],
        what: &str,
        path: &str,
    ) -> bool {
        crate::results::check_fields(node, known, what, path, &mut self.findings)
    }

    pub fn has_errors(&self) -> bool {
        crate::results::has_errors(&self.findings)
    }
}

pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A field path built as a walk goes down a tree and written out only when a
/// finding names it: most walks find nothing.
#[derive(Clone, Copy, Debug)]
pub enum At<'a> {
    Root(&'a str),
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl Display for At<'_> {
    /// The same text [`child`] and [`index`] build.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Root(path) => f.write_str(path),
            At::Key(At::Root(""), key) => f.write_str(key),
            At::Key(parent, key) => write!(f, "{parent}.{key}"),
            At::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_paths_read_as_built_ones() {
        let root = At::Root("spec.run");
        let key = At::Key(&root, "container");
        let item = At::Index(&key, 2);
        assert_eq!(item.to_string(), index(&child("spec.run", "container"), 2));
        let top = At::Root("");
        assert_eq!(At::Key(&top, "a").to_string(), child("", "a"));
        assert_eq!(At::Index(&top, 0).to_string(), index("", 0));
    }
}
