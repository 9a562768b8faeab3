//! The examples under `examples/`, run for real: the binary on its own, under
//! kpt (`fn eval --exec`, `fn render --allow-exec`), under `kubectl kustomize`
//! as a legacy exec plugin, and in render mode as the Argo CD plugin runs it.
//!
//! kpt and kubectl must be on PATH: a missing tool fails the test, it never
//! skips it. `UPDATE_EXPECTED=1 cargo test --test tools` rewrites the expected
//! files; check them by hand before committing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    assert_matches_file, assert_same_tree, bin, copy_dir, describe, path_with_bin, repo,
    require_tool, run, snapshot,
};

const KPT_INSTALL: &str = "kpt 1.0.0-beta.56 must be on PATH: download the kpt binary for your \
platform from https://github.com/kptdev/kpt/releases/tag/v1.0.0-beta.56 and put it in a PATH folder.";
const KUBECTL_INSTALL: &str = "kubectl v1.32 (embedded kustomize v5.5) must be on PATH: see \
https://kubernetes.io/docs/tasks/tools/ for install steps.";

/// The message the binary gives for the misindented envFrom of the bad operation.
const BAD_MESSAGE: &str = r#"secretRef is empty and "name" is not a field of EnvFromSource - indent "name" under "secretRef""#;

/// Case krm/03: `name` is indented at the level of `secretRef`, so YAML reads
/// `{secretRef: null, name: report-env}`.
const BAD_OPERATION: &str = r#"apiVersion: polyaxon-krm.dev/v1alpha1
kind: PolyaxonOperation
metadata:
  name: report
spec:
  version: 1.1
  kind: component
  name: report
  run:
    kind: job
    container:
      name: main
      image: python:3.12-slim
      envFrom:
      - secretRef:
        name: report-env # parsed as a sibling of secretRef, not inside it
      - configMapRef:
          name: report-settings
"#;

/// The Argo CD plugin's `generate` script, exactly as in examples/argocd/plugin.yaml.
const ARGOCD_GENERATE: &str = "set -eu; exec polyaxon-krm render .";

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("UTF-8 output")
}

fn count_jobs(yaml: &str) -> usize {
    yaml.lines().filter(|l| l.trim() == "kind: Job").count()
}

// ---------------------------------------------------------------- the binary

#[test]
fn seed_resource_list_matches_expected_and_is_idempotent() {
    let input = std::fs::read(repo("examples/seed/resource-list.yaml")).expect("read the seed");
    let out = run(&mut Command::new(bin()), &input);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let first = text(&out.stdout);
    assert_matches_file(&repo("examples/seed/expected.yaml"), &first);

    let job = first
        .split("- apiVersion: batch/v1\n")
        .nth(1)
        .expect("a Job follows the operation");
    for want in [
        "restartPolicy: Never",
        "backoffLimit: 0",
        "- secretRef:\n              name: my-secret1",
        "- secretRef:\n              name: my-secret2",
        "secretKeyRef:\n                name: my-secret3\n                key: secret-key",
        "- name: secret-vol-name\n            mountPath: /etc/secret/path\n            readOnly: true",
        "- name: secret-vol-name\n          secret:\n            secretName: my-secret",
    ] {
        assert!(job.contains(want), "the Job lacks {want:?}:\n{job}");
    }
    assert_eq!(count_jobs(&first), 1, "{first}");

    let again = run(&mut Command::new(bin()), first.as_bytes());
    assert_eq!(again.status.code(), Some(0), "{}", describe(&again));
    assert!(
        again.stdout == first.as_bytes(),
        "a second run changed the output:\n{}",
        common::diff(&first, &text(&again.stdout))
    );
}

#[test]
fn connections_example_matches_expected_and_is_idempotent() {
    let input =
        std::fs::read(repo("examples/connections/resource-list.yaml")).expect("read the example");
    let out = run(&mut Command::new(bin()), &input);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let first = text(&out.stdout);
    assert_matches_file(&repo("examples/connections/expected.yaml"), &first);
    assert_eq!(count_jobs(&first), 2, "{first}");
    let again = run(&mut Command::new(bin()), first.as_bytes());
    assert!(
        again.stdout == first.as_bytes(),
        "a second run changed the output:\n{}",
        common::diff(&first, &text(&again.stdout))
    );
}

// ---------------------------------------------------------------------- kpt

fn kpt(args: &[&str], dir: &Path) -> std::process::Output {
    require_tool("kpt", &["version"], KPT_INSTALL);
    let mut cmd = Command::new("kpt");
    cmd.args(args).arg(dir).env("PATH", path_with_bin());
    run(&mut cmd, b"")
}

/// The example package (without `.expected/`) in a scratch folder.
fn kpt_package() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a scratch folder");
    let pkg = tmp.path().join("train");
    for (rel, bytes) in package_files(&repo("examples/kpt")) {
        let path = pkg.join(rel);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write a package file");
    }
    (tmp, pkg)
}

fn in_expected_dir(rel: &Path) -> bool {
    rel.starts_with(".expected")
}

/// kpt fn render is a fixed point: a second run leaves every file as it was.
fn assert_second_render_changes_nothing(pkg: &Path, first: &BTreeMap<PathBuf, Vec<u8>>) {
    let out = kpt(&["fn", "render", "--allow-exec"], pkg);
    assert!(
        out.status.success(),
        "second kpt fn render failed:\n{}",
        describe(&out)
    );
    assert_same_tree("after a second kpt fn render", first, &package_files(pkg));
}

/// The package files but `.expected/`.
fn package_files(pkg: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    snapshot(pkg, &in_expected_dir)
}

/// What the package should hold after the function ran: the example package
/// with the files of `.expected/` (the changed and the new ones) laid over it.
fn kpt_expected_tree() -> BTreeMap<PathBuf, Vec<u8>> {
    let mut tree = package_files(&repo("examples/kpt"));
    tree.extend(snapshot(&repo("examples/kpt/.expected"), &|_| false));
    tree
}

/// Rewrites `examples/kpt/.expected` from a package the function ran on.
fn update_kpt_expected(after: &BTreeMap<PathBuf, Vec<u8>>) {
    let before = package_files(&repo("examples/kpt"));
    let dir = repo("examples/kpt/.expected");
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clear .expected");
    }
    for (rel, bytes) in after {
        if before.get(rel) != Some(bytes) {
            let path = dir.join(rel);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(&path, bytes).expect("write an expected file");
            eprintln!("updated {}: check it by hand", path.display());
        }
    }
}

#[test]
fn kpt_fn_eval_writes_the_expected_files() {
    let (_tmp, pkg) = kpt_package();
    let out = kpt(&["fn", "eval", "--exec", "polyaxon-krm"], &pkg);
    assert!(
        out.status.success(),
        "kpt fn eval failed:\n{}",
        describe(&out)
    );
    if common::updating() {
        // The render test rewrites .expected meanwhile; compare on a normal run.
        return;
    }
    assert_same_tree(
        "after kpt fn eval",
        &kpt_expected_tree(),
        &package_files(&pkg),
    );
}

#[test]
fn kpt_fn_render_writes_the_expected_files_and_a_second_render_changes_nothing() {
    let (_tmp, pkg) = kpt_package();
    let out = kpt(&["fn", "render", "--allow-exec"], &pkg);
    assert!(
        out.status.success(),
        "kpt fn render failed:\n{}",
        describe(&out)
    );
    let first = package_files(&pkg);
    if common::updating() {
        update_kpt_expected(&first);
    } else {
        assert_same_tree("after kpt fn render", &kpt_expected_tree(), &first);
    }

    let generated = text(&first[Path::new("operations/mount-secrets.generated.yaml")]);
    assert_eq!(count_jobs(&generated), 1, "{generated}");
    let source = text(&first[Path::new("operations/mount-secrets.yaml")]);
    assert!(
        source.contains("config.kubernetes.io/local-config: \"true\""),
        "the source is not marked local-config:\n{source}"
    );
    // Comments survive on the item we pass through and on the source.
    let settings = text(&first[Path::new("settings.yaml")]);
    for comment in [
        "# Not a Polyaxon object",
        "name: train-settings # read by the training code",
        "  # how many epochs to run\n",
        "learning-rate: \"0.001\" # tuned by hand",
    ] {
        assert!(settings.contains(comment), "lost {comment:?}:\n{settings}");
    }
    assert!(source.contains("name: my-secret1 # every key of my-secret1"));

    assert_second_render_changes_nothing(&pkg, &first);
}

#[test]
fn kpt_fails_on_a_bad_operation_and_leaves_the_package_untouched() {
    let (_tmp, pkg) = kpt_package();
    std::fs::write(pkg.join("operations/report.yaml"), BAD_OPERATION).expect("write");
    let before = package_files(&pkg);
    for args in [
        &["fn", "render", "--allow-exec"][..],
        &["fn", "eval", "--exec", "polyaxon-krm"][..],
    ] {
        let out = kpt(args, &pkg);
        assert!(
            !out.status.success(),
            "kpt {args:?} passed on a bad operation:\n{}",
            describe(&out)
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(BAD_MESSAGE) && stderr.contains("envFrom[0]"),
            "kpt {args:?} does not show our error:\n{stderr}"
        );
        assert_same_tree(
            &format!("after a failed kpt {args:?}"),
            &before,
            &package_files(&pkg),
        );
    }
}

/// A PolyaxonOperation in a kpt subpackage: its Job must be written inside
/// that subpackage, next to its source.
#[test]

fn kpt_render_writes_a_subpackage_job_into_the_subpackage() {
    let tmp = tempfile::tempdir().expect("a scratch folder");
    let pkg = tmp.path().join("root");
    std::fs::create_dir_all(pkg.join("sub")).expect("mkdir");
    std::fs::copy(repo("examples/kpt/Kptfile"), pkg.join("Kptfile")).expect("copy Kptfile");
    std::fs::write(
        pkg.join("sub/Kptfile"),
        "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: sub\n  annotations:\n    config.kubernetes.io/local-config: \"true\"\n",
    )
    .expect("write");
    std::fs::write(
        pkg.join("sub/op.yaml"),
        "apiVersion: polyaxon-krm.dev/v1alpha1\nkind: PolyaxonOperation\nmetadata:\n  name: sub-op\nspec:\n  version: 1.1\n  kind: component\n  run:\n    kind: job\n    container:\n      image: busybox\n",
    )
    .expect("write");
    let out = kpt(&["fn", "render", "--allow-exec"], &pkg);
    assert!(
        out.status.success(),
        "kpt fn render failed:\n{}",
        describe(&out)
    );
    let files: Vec<PathBuf> = package_files(&pkg).into_keys().collect();
    assert!(
        files.contains(&PathBuf::from("sub/op.generated.yaml"))
            && !files.contains(&PathBuf::from("op.generated.yaml")),
        "the Job of sub/op.yaml is not in sub/op.generated.yaml: {files:?}"
    );
    let first = package_files(&pkg);
    assert_second_render_changes_nothing(&pkg, &first);
}

// ---------------------------------------------------------------- kustomize

/// examples/kustomize in a scratch folder, with the binary linked in as the
/// legacy exec plugin; gives `kubectl kustomize`'s output.
fn kubectl_kustomize(bad_operation: bool) -> std::process::Output {
    require_tool("kubectl", &["version", "--client"], KUBECTL_INSTALL);
    let tmp = tempfile::tempdir().expect("a scratch folder");
    let dir = tmp.path().join("kustomize");
    copy_dir(&repo("examples/kustomize"), &dir);
    let plugin_dir = dir.join("plugins/polyaxon-krm.dev/v1alpha1/renderpolyaxon");
    link_executable(&bin(), &plugin_dir.join("RenderPolyaxon"));
    if bad_operation {
        std::fs::write(dir.join("operation.yaml"), BAD_OPERATION).expect("write");
    }
    let mut cmd = Command::new("kubectl");
    cmd.args(["kustomize", "--enable-alpha-plugins"])
        .arg(&dir)
        .env("KUSTOMIZE_PLUGIN_HOME", dir.join("plugins"));
    run(&mut cmd, b"")
}

/// A symbolic link, not a copy: a freshly written executable can fail to
/// start ("text file busy") while other test threads fork.
#[cfg(unix)]
fn link_executable(target: &Path, link: &Path) {
    // A link the reader made in the example folder (as its README shows) came along with the copy.
    let _ = std::fs::remove_file(link);
    std::os::unix::fs::symlink(target, link)
        .unwrap_or_else(|e| panic!("cannot link {}: {e}", link.display()));
}

#[cfg(not(unix))]
fn link_executable(target: &Path, link: &Path) {
    let _ = std::fs::remove_file(link);
    std::fs::copy(target, link).unwrap_or_else(|e| panic!("cannot copy {}: {e}", link.display()));
}

#[test]
fn kubectl_kustomize_legacy_plugin_matches_expected() {
    let out = kubectl_kustomize(false);
    assert!(
        out.status.success(),
        "kubectl kustomize failed:\n{}",
        describe(&out)
    );
    let stdout = text(&out.stdout);
    assert_matches_file(&repo("examples/kustomize/expected.yaml"), &stdout);
    assert_eq!(count_jobs(&stdout), 1, "{stdout}");
    assert!(
        !stdout.contains("PolyaxonOperation\n"),
        "kustomize kept the local-config source:\n{stdout}"
    );
}

#[test]
fn kubectl_kustomize_shows_our_error_for_a_bad_operation() {
    let out = kubectl_kustomize(true);
    assert!(
        !out.status.success(),
        "kubectl kustomize passed on a bad operation:\n{}",
        describe(&out)
    );
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(BAD_MESSAGE) && stderr.contains("PolyaxonOperation/report"),
        "our error is not in kubectl's stderr:\n{stderr}"
    );
}

// -------------------------------------------------------- Argo CD (render)

/// Runs the plugin's `generate` as Argo CD does: `sh -c` in the app folder,
/// with the namespace Argo CD passes.
fn argocd_generate(app: &Path) -> std::process::Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", ARGOCD_GENERATE])
        .current_dir(app)
        .env("PATH", path_with_bin())
        .env("ARGOCD_APP_NAMESPACE", "ml-training")
        .env_remove("ARGOCD_ENV_POLYAXON_KRM_CONFIG");
    run(&mut cmd, b"")
}

#[test]
fn argocd_plugin_renders_the_app_folder() {
    let plugin = std::fs::read_to_string(repo("examples/argocd/plugin.yaml")).expect("read");
    assert!(
        plugin.contains(&format!("- {ARGOCD_GENERATE}\n")),
        "plugin.yaml's generate is not {ARGOCD_GENERATE:?}:\n{plugin}"
    );
    let out = argocd_generate(&repo("examples/argocd/apps/train"));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert_matches_file(&repo("examples/argocd/expected.yaml"), &stdout);
    assert_eq!(count_jobs(&stdout), 2, "{stdout}");
    for local in ["kind: PolyaxonOperation", "kind: RenderPolyaxon"] {
        assert!(!stdout.contains(local), "{local} was rendered:\n{stdout}");
    }
    let stderr = text(&out.stderr);
    for line in stderr.lines() {
        assert!(
            line.starts_with("warning: ") || line.starts_with("info: "),
            "stderr holds more than messages: {line:?}\n{stderr}"
        );
    }
}

#[test]
fn argocd_render_of_a_bad_file_prints_nothing_and_names_the_file() {
    let tmp = tempfile::tempdir().expect("a scratch folder");
    let app = tmp.path().join("train");
    copy_dir(&repo("examples/argocd/apps/train"), &app);
    let bad = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: report-settings\ndata:\n  format: json\n---\n{BAD_OPERATION}"
    );
    std::fs::write(app.join("report.yaml"), bad).expect("write");
    let out = argocd_generate(&app);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(BAD_MESSAGE) && stderr.contains("report.yaml, document 2"),
        "stderr does not name the file and document:\n{stderr}"
    );
}
