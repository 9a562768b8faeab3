//! Collects the findings of one item's conversion, with field paths.

use crate::results::Finding;

#[derive(Default, Debug)]
pub struct Diag {
    pub findings: Vec<Finding>,
}

impl Diag {
    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        self.findings.push(Finding::error(message).at(path));
    }

    pub fn warning(&mut self, path: &str, message: impl Into<String>) {
        self.findings.push(Finding::warning(message).at(path));
    }

    pub fn info(&mut self, path: &str, message: impl Into<String>) {
        self.findings.push(Finding::info(message).at(path));
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
