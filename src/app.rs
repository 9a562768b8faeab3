//! The pipeline for each mode: read → config → convert → write.

use std::io::{Read, Write};
use std::path::Path;

use clap::Parser;

use crate::cli::{Cli, Command, LimitArgs, RenderArgs};
use crate::config::{self, Config};
use crate::convert::{self, Item, LOCAL_CONFIG, OutputItem};
use crate::read::{self, Envelope, SourceFile};
use crate::results::{Finding, has_errors};
use crate::write;
use crate::yaml::Node;

pub const EXIT_OK: i32 = 0;
pub const EXIT_ERRORS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// Standard streams, passed in so tests can drive the whole program.
pub struct Io<'a> {
    pub stdin: &'a mut dyn Read,
    pub stdout: &'a mut dyn Write,
    pub stderr: &'a mut dyn Write,
    pub stdin_is_terminal: bool,
}

pub fn run(args: impl IntoIterator<Item = std::ffi::OsString>, io: &mut Io<'_>) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            let text = e.render().to_string();
            let _ = if e.use_stderr() {
                io.stderr.write_all(text.as_bytes())
            } else {
                io.stdout.write_all(text.as_bytes())
            };
            return code;
        }
    };
    let limits = match &cli.command {
        Some(Command::Render(args)) => &args.limits,
        None => &cli.limits,
    };
    crate::template_guard::start_run(limits.templates());
    match &cli.command {
        Some(Command::Render(args)) => render(args, io),
        None => match &cli.config_file {
            Some(file) if file.is_file() => legacy_plugin(file, &cli, io),
            Some(file) => {
                let word = file.display().to_string();
                let hint = crate::results::did_you_mean(&word, ["render"])
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                let _ = writeln!(
                    io.stderr,
                    "error: `{word}` is neither a subcommand nor a config file{hint}\n\nRun `polyaxon-krm --help` for usage."
                );
                EXIT_USAGE
            }
            None if io.stdin_is_terminal => {
                let _ = writeln!(
                    io.stderr,
                    "error: expected a ResourceList on stdin (polyaxon-krm is a KRM function)\n\nRun `polyaxon-krm --help` for usage."
                );
                EXIT_USAGE
            }
            None => krm_function(&cli.limits, io),
        },
    }
}

fn read_all(io: &mut Io<'_>, limits: &LimitArgs) -> Result<Vec<u8>, Finding> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(limits.max_input_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    io.stdin
        .take(cap)
        .read_to_end(&mut bytes)
        .map_err(|e| Finding::error(format!("cannot read stdin: {e}")))?;
    Ok(bytes)
}

/// Writes output, then the messages, and gives the exit code.
fn finish(io: &mut Io<'_>, output: &str, results: &[Finding]) -> i32 {
    let _ = io.stderr.write_all(write::messages(results).as_bytes());
    if io
        .stdout
        .write_all(output.as_bytes())
        .and_then(|()| io.stdout.flush())
        .is_err()
    {
        let _ = writeln!(io.stderr, "error: cannot write to stdout");
        return EXIT_ERRORS;
    }
    if has_errors(results) {
        EXIT_ERRORS
    } else {
        EXIT_OK
    }
}

/// An input we could not even read: there is no list to give back, so
/// nothing on stdout (never a successful-looking empty list), the errors on
/// stderr, exit 1.
fn unreadable(io: &mut Io<'_>, findings: &[Finding]) -> i32 {
    let _ = io.stderr.write_all(write::messages(findings).as_bytes());
    EXIT_ERRORS
}

fn krm_function(limits: &LimitArgs, io: &mut Io<'_>) -> i32 {
    let bytes = match read_all(io, limits) {
        Ok(b) => b,
        Err(f) => return unreadable(io, &[f]),
    };
    let text = match read::decode(&bytes, limits.max_input_bytes) {
        Ok(t) => t,
        Err(f) => return unreadable(io, &[f]),
    };
    let input = match read::read_krm_for(text, &limits.yaml(), read::Answer::InKind) {
        Ok(i) => i,
        Err(findings) => return unreadable(io, &findings),
    };
    let (config, mut results) = resolve_config(input.function_config.as_ref(), &input.items);
    let (items, more) = convert_or_keep(input.items, config.as_ref(), has_errors(&results));
    results.extend(more);
    let output = write::krm_output(
        &input.envelope,
        &items,
        text,
        input.function_config.as_ref(),
        &results,
    );
    drop_in_background(items);
    finish(io, &output, &results)
}

/// Freeing a tree of millions of nodes takes about a tenth of a run; the
/// answer does not wait for it.
fn drop_in_background<T: Send + 'static>(value: T) {
    // Should the thread not start, the closure and `value` drop right here.
    let _ = std::thread::Builder::new()
        .stack_size(crate::parallel::STACK_BYTES)
        .spawn(move || drop(value));
}

fn legacy_plugin(file: &Path, cli: &Cli, io: &mut Io<'_>) -> i32 {
    let limits = &cli.limits;
    let mut results = Vec::new();
    if !cli.plugin_args.is_empty() {
        results.push(Finding::warning(format!(
            "plugin arguments {:?} ignored: configure RenderPolyaxon fields instead",
            cli.plugin_args
        )));
    }
    let config_node = match read::read_config_file(file, &limits.yaml(), limits.max_input_bytes) {
        Ok(n) => n,
        Err(f) => {
            let _ = writeln!(io.stderr, "{f}");
            return EXIT_ERRORS;
        }
    };
    let bytes = match read_all(io, limits) {
        Ok(b) => b,
        Err(f) => {
            let _ = writeln!(io.stderr, "{f}");
            return EXIT_ERRORS;
        }
    };
    let read = read::decode(&bytes, limits.max_input_bytes)
        .map_err(|f| vec![f])
        .and_then(|t| {
            Ok((
                t,
                read::read_krm_for(t, &limits.yaml(), read::Answer::Stream)?,
            ))
        });
    let (text, input) = match read {
        Ok(read) => read,
        Err(findings) => {
            let _ = io.stderr.write_all(write::messages(&findings).as_bytes());
            return EXIT_ERRORS;
        }
    };
    let (config, more) = resolve_config(Some(&config_node), &input.items);
    results.extend(more);
    let (items, more) = convert_or_keep(input.items, config.as_ref(), has_errors(&results));
    results.extend(more);
    // kustomize reads a plain stream back, whatever it sent.
    let output = write::krm_output(&Envelope::Stream, &items, text, None, &results);
    drop_in_background(items);
    finish(io, &output, &results)
}

fn render(args: &RenderArgs, io: &mut Io<'_>) -> i32 {
    let limits = &args.limits;
    let fail = |io: &mut Io<'_>, findings: &[Finding]| {
        let _ = io.stderr.write_all(write::messages(findings).as_bytes());
        EXIT_ERRORS
    };
    let mut files: Vec<SourceFile> = Vec::new();
    let mut paths = Vec::new();
    // `--max-input-bytes` bounds what the run reads in all, files and stdin.
    let mut left = limits.max_input_bytes;
    for path in &args.paths {
        if path.as_os_str() == "-" {
            let bytes = match read_all(io, limits) {
                Ok(b) => b,
                Err(f) => return fail(io, &[f]),
            };
            left = left.saturating_sub(bytes.len());
            match read::decode(&bytes, limits.max_input_bytes) {
                Ok(text) => files.push(SourceFile {
                    path: "<stdin>".into(),
                    text: text.to_string(),
                }),
                Err(f) => return fail(io, &[f]),
            }
        } else {
            paths.push(path.clone());
        }
    }
    let found = match read::collect_files(&paths, &args.exclude) {
        Ok(f) => f,
        Err(f) => return fail(io, &[f]),
    };
    for path in found {
        let shown = path.display().to_string();
        let bytes = match read::read_file_capped(&path, left, limits.max_input_bytes) {
            Ok(b) => b,
            Err(e) => return fail(io, &[Finding::error(format!("cannot read {shown}: {e}"))]),
        };
        left -= bytes.len();
        match read::decode(&bytes, limits.max_input_bytes) {
            Ok(text) => files.push(SourceFile {
                path: shown,
                text: text.to_string(),
            }),
            Err(f) => return fail(io, &[Finding::error(format!("{shown}: {}", f.message))]),
        }
    }
    let (items, mut results) = read::read_files(&files, &limits.yaml());
    let config_path = args.config.clone().or_else(|| {
        ["POLYAXON_KRM_CONFIG", "ARGOCD_ENV_POLYAXON_KRM_CONFIG"]
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|p| !p.is_empty()))
            .map(std::path::PathBuf::from)
    });
    let config_node = match &config_path {
        Some(path) => match read::read_config_file(path, &limits.yaml(), limits.max_input_bytes) {
            Ok(n) => Some(n),
            Err(f) => return fail(io, &[f]),
        },
        None => None,
    };
    let (config, more) = resolve_config(config_node.as_ref(), &items);
    results.extend(more);
    // The flag says it outright; Argo CD's destination namespace is only a fallback.
    let argocd_namespace = std::env::var("ARGOCD_APP_NAMESPACE")
        .ok()
        .filter(|n| !n.is_empty());
    let config = config.map(|mut c| {
        if args.namespace.is_some() {
            c.defaults.namespace.clone_from(&args.namespace);
        } else if c.defaults.namespace.is_none() {
            c.defaults.namespace = argocd_namespace;
        }
        c
    });
    let (items, more) = convert_or_keep(items, config.as_ref(), has_errors(&results));
    results.extend(more);
    if has_errors(&results) {
        return fail(io, &results);
    }
    if files.is_empty() {
        return fail(
            io,
            &[Finding::error(
                "no *.yaml, *.yml or *.json file found to render",
            )],
        );
    }
    let applied: Vec<OutputItem> = items
        .into_iter()
        .filter(|item| convert::annotation(&item.node, LOCAL_CONFIG) != Some("true"))
        .collect();
    if applied.is_empty() {
        // An empty stream makes Argo CD prune everything: say so instead.
        results.push(Finding::error(
            "nothing to apply: the files hold no Kubernetes objects and no Polyaxon operations (only local-config objects)",
        ));
        return fail(io, &results);
    }
    // The items were read from several files: none carries verbatim text.
    finish(io, &write::stream(&applied, ""), &results)
}

/// Picks the one function config among the functionConfig and the
/// RenderPolyaxon items. The same object twice (kpt render sends it both
/// ways) is one config; two different ones are an error.
fn resolve_config(
    function_config: Option<&Node>,
    items: &[Item],
) -> (Option<Config>, Vec<Finding>) {
    // Each with where it came from, for the message when there are several:
    // the functionConfig (`None`) or an item, and its file if known.
    let mut candidates: Vec<(&Node, Option<Option<crate::results::FileRef>>)> = Vec::new();
    if let Some(fc) = function_config {
        if !config::is_config_object(fc) {
            let kind = fc.get("kind").and_then(Node::as_str).unwrap_or("?");
            return (
                None,
                vec![
                    Finding::error(format!(
                        "the function config is a {kind}; expected RenderPolyaxon ({}) or a ConfigMap",
                        config::GROUP_VERSION
                    ))
                    .on(convert::resource_ref(fc), None),
                ],
            );
        }
        candidates.push((fc, None));
    }
    for item in items {
        if item.node.get("kind").and_then(Node::as_str) == Some("RenderPolyaxon")
            && item.node.get("apiVersion").and_then(Node::as_str) == Some(config::GROUP_VERSION)
        {
            candidates.push((&item.node, Some(convert::file_ref(item))));
        }
    }
    let mut distinct: Vec<(&Node, Option<Option<crate::results::FileRef>>)> = Vec::new();
    for (c, file) in candidates {
        if !distinct.iter().any(|(d, _)| same_config(d, c)) {
            distinct.push((c, file));
        }
    }
    // kpt's default functionConfig is an empty ConfigMap: no config at all.
    if distinct.len() > 1 {
        distinct.retain(|(c, _)| !is_empty_configmap(c));
    }
    match distinct.as_slice() {
        [] => (Some(Config::default()), Vec::new()),
        [(one, _)] => {
            let (config, findings) = config::load(one);
            let resource = convert::resource_ref(one);
            let findings = findings
                .into_iter()
                .map(|f| f.on(resource.clone(), None))
                .collect();
            (Some(config), findings)
        }
        many => {
            let names: Vec<String> = many
                .iter()
                .filter_map(|(n, file)| {
                    let r = convert::resource_ref(n)?;
                    Some(match file {
                        Some(Some(file)) => format!("{}/{} in {file}", r.kind, r.name),
                        Some(None) => format!("{}/{}", r.kind, r.name),
                        None => format!("{}/{}, the function config", r.kind, r.name),
                    })
                })
                .collect();
            (
                None,
                vec![Finding::error(format!(
                    "more than one function config ({}); keep one RenderPolyaxon",
                    names.join("; ")
                ))],
            )
        }
    }
}

fn is_empty_configmap(node: &Node) -> bool {
    node.get("kind").and_then(Node::as_str) == Some("ConfigMap")
        && node
            .get("data")
            .and_then(Node::as_map)
            .is_none_or(Vec::is_empty)
}

/// Equal but for the orchestrators' bookkeeping annotations.
fn same_config(a: &Node, b: &Node) -> bool {
    let strip = |n: &Node| {
        let mut n = n.clone();
        if let Some(annotations) = n.get_mut("metadata").and_then(|m| m.get_mut("annotations"))
            && let Some(entries) = annotations.as_map_mut()
        {
            entries.retain(|(k, _)| {
                let k = k.scalar_text().unwrap_or_default();
                !(k.starts_with("config.kubernetes.io/")
                    || k.starts_with("internal.config.kubernetes.io/")
                    || k.starts_with("config.k8s.io/")
                    || k.starts_with("kustomize.config.k8s.io/"))
            });
        }
        crate::yaml::to_json(&n)
    };
    strip(a) == strip(b)
}

/// Converts; when the config itself is wrong (`config_failed`) the items
/// still get checked, but come back exactly as they were.
fn convert_or_keep(
    items: Vec<Item>,
    config: Option<&Config>,
    config_failed: bool,
) -> (Vec<OutputItem>, Vec<Finding>) {
    let originals: Option<Vec<OutputItem>> = config_failed.then(|| {
        items
            .iter()
            .filter(|i| !i.raw_polyaxon)
            .map(|i| OutputItem::unchanged(i.clone()))
            .collect()
    });
    let (converted, results) = match config {
        Some(config) => {
            let outcome = convert::convert(items, config);
            (outcome.items, outcome.results)
        }
        None => (
            items
                .into_iter()
                .filter(|i| !i.raw_polyaxon)
                .map(OutputItem::unchanged)
                .collect(),
            Vec::new(),
        ),
    };
    (originals.unwrap_or(converted), results)
}
