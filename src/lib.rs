//! polyaxon-krm: Polyaxon operations in Git → plain Kubernetes Jobs, as a KRM
//! function. The pipeline reads in file order: [`read`] → [`config`] →
//! [`convert`] (pure) → [`write`]; [`app`] wires it per mode.

pub mod app;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod convert;
pub mod glob;
pub mod parallel;
pub mod policy;
pub mod read;
pub mod results;
pub mod template_guard;
pub mod write;
pub mod yaml;
