//! The command line, parsed once into [`Cli`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::yaml::Limits;

/// Turns Polyaxon operations kept in Git into plain Kubernetes Jobs.
///
/// With no subcommand it is a KRM function: a ResourceList on stdin, the
/// ResourceList with the Jobs on stdout (kpt fn eval --exec, kpt fn render,
/// kustomize --enable-exec). Given a file, it is kustomize's legacy exec
/// plugin: the file is the RenderPolyaxon config, stdin and stdout are plain
/// YAML streams.
#[derive(Debug, Parser)]
#[command(name = "polyaxon-krm", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Legacy kustomize exec plugin: the plugin config file kustomize passes.
    #[arg(value_name = "CONFIG_FILE")]
    pub config_file: Option<PathBuf>,

    /// Arguments kustomize appends from the plugin config (ignored).
    #[arg(hide = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub plugin_args: Vec<String>,

    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render files, folders or a stream (`-`) to the manifests to apply:
    /// a plain YAML stream on stdout, messages on stderr (Argo CD CMP `generate`).
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Files and folders (recursive *.yaml, *.yml, *.json), or - for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// A RenderPolyaxon or ConfigMap function config [env: POLYAXON_KRM_CONFIG, or
    /// ARGOCD_ENV_POLYAXON_KRM_CONFIG as an Argo CD plugin env]. Without it, a
    /// RenderPolyaxon among the files serves.
    #[arg(long, short, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Namespace for generated objects whose operation has none. Order: this
    /// flag, then the config's defaults.namespace, then ARGOCD_APP_NAMESPACE.
    #[arg(long, short, value_name = "NS")]
    pub namespace: Option<String>,

    /// Skip files whose path (relative to a folder argument) or name matches (`*`, `**`, `?`).
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    #[command(flatten)]
    pub limits: LimitArgs,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct LimitArgs {
    /// Largest input accepted, in bytes.
    #[arg(long, global = true, default_value_t = 1 << 30, value_name = "BYTES")]
    pub max_input_bytes: usize,
    /// Largest single scalar, in bytes.
    #[arg(long, global = true, default_value_t = 16 << 20, value_name = "BYTES")]
    pub max_scalar_bytes: usize,
    /// Deepest nesting of mappings and lists.
    #[arg(long, global = true, default_value_t = 256, value_name = "N")]
    pub max_depth: usize,
    /// Most YAML documents in one input.
    #[arg(long, global = true, default_value_t = 1_000_000, value_name = "N")]
    pub max_documents: usize,
    /// Most nodes that YAML aliases may add, each 64 bytes of text counting as
    /// a node (stops "billion laughs").
    #[arg(long, global = true, default_value_t = 1_000_000, value_name = "N")]
    pub max_alias_nodes: usize,
    /// Most memory one template may use while it renders; past it the run
    /// stops with exit 1 and nothing written.
    #[arg(long, global = true, default_value_t = crate::template_guard::DEFAULT_TEMPLATE_BYTES, value_name = "BYTES")]
    pub max_template_bytes: usize,
    /// Most bytes all templates of one run may render together (aliases and
    /// presets can repeat one templated field many times).
    #[arg(long, global = true, default_value_t = crate::template_guard::DEFAULT_RENDERED_BYTES, value_name = "BYTES")]
    pub max_rendered_bytes: usize,
    /// Longest one template may take to render; past it the run stops with
    /// exit 1 and nothing written.
    #[arg(long, global = true, default_value_t = crate::template_guard::DEFAULT_TEMPLATE_SECONDS, value_name = "SECONDS", value_parser = positive_seconds)]
    pub max_template_seconds: f64,
    /// Longest all templates of one run may take together.
    #[arg(long, global = true, default_value_t = crate::template_guard::DEFAULT_RENDERING_SECONDS, value_name = "SECONDS", value_parser = positive_seconds)]
    pub max_rendering_seconds: f64,
}

/// A time bound: a number of seconds above zero (`inf` for none).
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds > 0.0 => Ok(seconds),
        _ => Err(format!(
            "expected a number of seconds above 0, got {text:?}"
        )),
    }
}

impl LimitArgs {
    pub fn templates(&self) -> crate::template_guard::RunLimits {
        crate::template_guard::RunLimits {
            template_bytes: self.max_template_bytes,
            rendered_bytes: self.max_rendered_bytes,
            template_seconds: self.max_template_seconds,
            rendering_seconds: self.max_rendering_seconds,
        }
    }

    pub fn yaml(&self) -> Limits {
        Limits {
            max_depth: self.max_depth,
            max_scalar_bytes: self.max_scalar_bytes,
            max_documents: self.max_documents,
            max_alias_nodes: self.max_alias_nodes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds_are_seconds_above_zero() {
        assert_eq!(positive_seconds("0.5"), Ok(0.5));
        assert_eq!(positive_seconds("inf"), Ok(f64::INFINITY));
        for bad in ["0", "-1", "NaN", "", "1s"] {
            assert!(positive_seconds(bad).is_err(), "{bad:?}");
        }
    }
}
