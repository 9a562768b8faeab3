//! The second suite: data from public repositories, read from the `shared`
//! folder beside the project (never copied into it). Run with
//! `cargo test --features shared-cases --test shared_cases`; set
//! `POLYAXON_KRM_SHARED` to read it from elsewhere. Fails loudly when missing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared() -> PathBuf {
    let dir = std::env::var_os("POLYAXON_KRM_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"));
    assert!(
        dir.join("cases/real").is_dir(),
        "the shared data is missing at {}: set POLYAXON_KRM_SHARED to the folder holding cases/ and schemas/",
        dir.display()
    );
    dir
}

struct Outcome {
    stdout: String,
    stderr: String,
    exit: i32,
}

fn render(file: &Path) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_polyaxon-krm"))
        .arg("render")
        .arg(file)
        .output()
        .expect("binary runs");
    Outcome {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        exit: out.status.code().unwrap_or(-1),
    }
}

/// What each real Polyaxon file must give: converts (with text the Job must
/// contain) or fails with a specific error (text stderr must contain).
enum Expect {
    Converts(&'static [&'static str]),
    Fails(&'static [&'static str]),
}

const REAL: &[(&str, Expect)] = &[
    (
        "01-pe-sklearn-iris.yml",
        Expect::Converts(&[
            "kind: Job",
            "clone -- 'https://github.com/polyaxon/polyaxon-examples' '/plx-context/artifacts/polyaxon-examples'",
            "workingDir: \"/plx-context/artifacts/polyaxon-examples/in_cluster/sklearn/iris\"",
            "\"--n_neighbors=3\"",
        ]),
    ),
    (
        "02-pe-artifacts.yml",
        Expect::Converts(&["name: artifacts-tracking", "git-polyaxon-examples"]),
    ),
    (
        "03-pe-build-tf.yaml",
        Expect::Fails(&["hubRef \"kaniko\" matches no component"]),
    ),
    (
        "04-pe-pytorchjob.yaml",
        Expect::Fails(&["run.kind pytorchjob is not supported yet"]),
    ),
    (
        "05-qs-env-vars.yaml",
        Expect::Fails(&["input \"message\" is required"]),
    ),
    (
        "06-qs-simulate.yaml",
        Expect::Converts(&["kind: Job", "\"--epochs=20\"", "git-polyaxon-quick-start"]),
    ),
    (
        "07-qs-build-and-run-dag.yaml",
        Expect::Fails(&["run.kind dag is not supported yet"]),
    ),
    (
        "08-qs-scheduling-preset.yaml",
        Expect::Fails(&["Polyaxon preset (isPreset)"]),
    ),
    (
        "09-qs-termination-preset.yaml",
        Expect::Fails(&["neither a Kubernetes object"]),
    ),
    (
        "10-plx-fixture-job-with-environment.yml",
        Expect::Fails(&["\"new_sa\" is not a valid serviceAccountName"]),
    ),
    (
        "11-plx-fixture-job-with-init.yml",
        Expect::Fails(&[
            "preset \"profile A\" is not in RenderPolyaxon.presets",
            "volumeMounts: expected a list, found a mapping",
        ]),
    ),
    (
        "12-plx-fixture-job-with-termination.yml",
        Expect::Converts(&[
            "kind: Job",
            "backoffLimit: 5",
            "activeDeadlineSeconds: 500",
            "restartPolicy: Never",
        ]),
    ),
    (
        "13-plx-fixture-simple-job.yml",
        Expect::Fails(&["mountPath \"~/.aws/credentials\" must be an absolute path"]),
    ),
    (
        "14-plx-fixture-templated-init-to-env.yml",
        Expect::Fails(&[
            "preset \"profile A\"",
            "unknown field \"configName\" in ConfigMapVolumeSource",
        ]),
    ),
    (
        "15-gmrukwa-build-operation.yml",
        Expect::Fails(&[
            "undefined template variable \"nocache\"",
            "connection \"quay-dockerizer\"",
        ]),
    ),
    (
        "16-gmrukwa-rstudio-service.yml",
        Expect::Fails(&["run.kind service is not supported yet"]),
    ),
    (
        "17-gmrukwa-divik.yml",
        Expect::Fails(&["input \"config\" is required"]),
    ),
    (
        "18-gmrukwa-vscode-service.yml",
        Expect::Fails(&["run.kind service is not supported yet"]),
    ),
];

#[test]
fn every_real_file_converts_or_fails_specifically() {
    let dir = shared().join("cases/real");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("real cases")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yml") || n.ends_with(".yaml"))
        .collect();
    files.sort();
    let listed: Vec<&str> = REAL.iter().map(|(f, _)| *f).collect();
    assert_eq!(files, listed, "every real file needs a row in the table");
    let mut failures = Vec::new();
    for (file, expect) in REAL {
        let out = render(&dir.join(file));
        assert!(
            !out.stderr.contains("panicked"),
            "{file}: crashed:\n{}",
            out.stderr
        );
        match expect {
            Expect::Converts(texts) => {
                if out.exit != 0 {
                    failures.push(format!(
                        "{file}: expected to convert, exit {}:\n{}",
                        out.exit, out.stderr
                    ));
                }
                for t in *texts {
                    if !out.stdout.contains(t) {
                        failures.push(format!("{file}: output lacks {t:?}:\n{}", out.stdout));
                    }
                }
            }
            Expect::Fails(texts) => {
                if out.exit != 1 || !out.stdout.is_empty() {
                    failures.push(format!(
                        "{file}: expected exit 1 and no output, got exit {}",
                        out.exit
                    ));
                }
                for t in *texts {
                    if !out.stderr.contains(t) {
                        failures.push(format!("{file}: stderr lacks {t:?}:\n{}", out.stderr));
                    }
                }
                if !out.stderr.contains(file) {
                    failures.push(format!(
                        "{file}: messages do not name the file:\n{}",
                        out.stderr
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The handed cases copied into tests/golden must not drift from their source.
#[test]
fn golden_copies_match_the_handed_cases() {
    let cases = shared().join("cases");
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut checked = 0;
    for entry in std::fs::read_dir(cases.join("krm"))
        .expect("krm cases")
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".yaml") else {
            continue;
        };
        let copy = golden.join(format!("krm-{stem}/input.yaml"));
        if copy.is_file() {
            let a = std::fs::read(entry.path()).expect("case");
            let b = std::fs::read(&copy).expect("copy");
            assert_eq!(a, b, "{} differs from {}", copy.display(), name);
            checked += 1;
        }
    }
    let seed = std::fs::read(cases.join("seed/resource-list.yaml")).expect("seed");
    assert_eq!(
        seed,
        std::fs::read(golden.join("seed/input.yaml")).expect("seed copy")
    );
    assert!(
        checked >= 8,
        "only {checked} handed cases found in tests/golden"
    );
}
