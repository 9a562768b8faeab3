//! Polyaxon's built-in `init` handlers, without its init image:
//! - `git` → an init container that clones the repository (credentials from
//!   the init's connection, see README "Git checkouts") into an emptyDir
//!   that the main container mounts at the same path;
//! - `file` and `dockerfile` → a generated ConfigMap, mounted read-only where
//!   Polyaxon's initializer would have written the file.
//!
//! Handlers that need Polyaxon's artifacts store or API are refused.

use super::diag::{Diag, child};
use crate::catalog::{Connection, Schema};
use crate::yaml::{Node, Resolved, Value};

/// Where Polyaxon's initializers write when `init.path` is not given.
pub const DEFAULT_DIR: &str = "/plx-context/artifacts";
pub const DEFAULT_GIT_IMAGE: &str = "alpine/git:2.45.2";

/// What one handler adds to the pod.
#[derive(Debug, Default)]
pub struct Added {
    pub init_container: Option<Node>,
    /// Volumes, and the mounts the main container gets.
    pub volumes: Vec<Node>,
    pub main_mounts: Vec<Node>,
    /// A ConfigMap to generate: name and data.
    pub config_map: Option<(String, Vec<(String, String)>)>,
}

pub struct Handler<'a> {
    pub entry: &'a Node,
    pub path: &'a str,
    pub index: usize,
    /// The Job's name, for generated object names.
    pub job_name: &'a str,
    pub connection: Option<&'a Connection>,
    pub git_image: &'a str,
}

/// Single-quotes a word for `sh`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// A valid DNS label from free text, for container and volume names.
pub fn label(text: &str, max: usize) -> String {
    let lowered: String = text
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut out = String::new();
    for c in lowered.chars() {
        if !(c == '-' && out.ends_with('-')) {
            out.push(c);
        }
    }
    let out: String = out.trim_matches('-').chars().take(max).collect();
    let out = out.trim_end_matches('-').to_string();
    if out.is_empty() { "x".into() } else { out }
}

fn mount(name: &str, path: &str, read_only: bool) -> Node {
    let mut m = Node::map();
    m.set("name", Node::string(name));
    m.set("mountPath", Node::string(path));
    if read_only {
        m.set("readOnly", Node::bool(true));
    }
    m
}

fn strings(node: Option<&Node>, path: &str, diag: &mut Diag) -> Vec<String> {
    match node.filter(|n| !n.is_null()) {
        None => Vec::new(),
        Some(n) => match n.as_seq() {
            Some(items) => items
                .iter()
                .filter_map(|i| {
                    let s = i.scalar_text().map(str::to_string);
                    if s.is_none() {
                        diag.error(path, "expected a list of strings");
                    }
                    s
                })
                .collect(),
            None => {
                diag.error(path, "expected a list of strings");
                Vec::new()
            }
        },
    }
}

/// `git: {url, revision, flags}`, or the url of the init's git connection.
pub fn git(h: &Handler<'_>, dir: Option<&str>, diag: &mut Diag) -> Option<Added> {
    let spec = h
        .entry
        .get("git")
        .filter(|n| !n.is_null())
        .cloned()
        .unwrap_or_else(Node::map);
    let at = child(h.path, "git");
    diag.check_fields(&spec, &["url", "revision", "flags"], "git", &at);
    let from_connection = h.connection.filter(|c| c.kind == "git").map(|c| &c.raw);
    let field = |key: &str| -> Option<String> {
        spec.get(key)
            .and_then(Node::scalar_text)
            .or_else(|| {
                from_connection
                    .and_then(|r| r.get_path(&["schema", key]))
                    .and_then(Node::scalar_text)
            })
            .map(str::to_string)
    };
    let Some(url) = field("url") else {
        diag.error(
            &at,
            "git field without a valid url requires a connection (of kind git) to be passed",
        );
        return None;
    };
    let revision = field("revision");
    let mut flags = strings(spec.get("flags"), &child(&at, "flags"), diag);
    if flags.is_empty() {
        flags = strings(
            from_connection.and_then(|r| r.get_path(&["schema", "flags"])),
            &at,
            diag,
        );
    }
    let repo = url
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("repo");
    let repo = repo.split('.').next().unwrap_or(repo);
    // A checkout folder name, never empty, never a path step of its own.
    let repo: String = repo
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let repo = if repo.trim_matches('-').is_empty() {
        "repo".to_string()
    } else {
        repo
    };
    let dest = format!(
        "{}/{repo}",
        dir.unwrap_or(DEFAULT_DIR).trim_end_matches('/')
    );
    let ssh_url = url.starts_with("git@") || url.starts_with("ssh://");
    let ssh_key_dir = h
        .connection
        .filter(|c| c.kind == "ssh")
        .and_then(|c| c.secret.as_ref())
        .and_then(|s| s.mount_path.clone());
    if ssh_url && ssh_key_dir.is_none() {
        diag.warning(
            child(&at, "url"),
            format!("{url} is an ssh URL and the init has no ssh connection with a mounted key: the clone will need credentials"),
        );
    }
    let name = label(&format!("git-{repo}"), 50);
    let volume_name = format!("{name}-{}", h.index);

    let mut script = vec!["set -eu".to_string()];
    if let Some(key_dir) = &ssh_key_dir {
        // ssh refuses group-readable keys, and secret files usually are.
        script.push(format!(
            "key={dir}/id_rsa; [ -f \"$key\" ] || key={dir}/ssh-privatekey; cp \"$key\" /tmp/git-ssh-key; chmod 600 /tmp/git-ssh-key",
            dir = quote(key_dir)
        ));
        // git runs GIT_SSH_COMMAND through a shell: only fixed paths go in it.
        script.push(format!(
            "if [ -f {dir}/known_hosts ]; then cp {dir}/known_hosts /tmp/git-known-hosts; hosts='-o UserKnownHostsFile=/tmp/git-known-hosts'; else hosts='-o StrictHostKeyChecking=accept-new'; fi",
            dir = quote(key_dir),
        ));
        script.push("export GIT_SSH_COMMAND=\"ssh -i /tmp/git-ssh-key $hosts\"".to_string());
    }
    // A token never appears in the URL or the logs: git asks this helper.
    script.push(
        "if [ -n \"${GIT_TOKEN:-}\" ]; then set -- -c 'credential.helper=!f() { echo \"username=${GIT_USER:-git}\"; echo \"password=${GIT_TOKEN}\"; }; f'; else set --; fi"
            .to_string(),
    );
    let flag_words: String = flags.iter().map(|f| format!(" {}", quote(f))).collect();
    script.push(format!(
        "git \"$@\" clone{flag_words} -- {} {}",
        quote(&url),
        quote(&dest)
    ));
    if let Some(rev) = &revision {
        script.push(format!("git -C {} checkout {}", quote(&dest), quote(rev)));
    }
    let mut container = Node::map();
    container.set("name", Node::string(&name));
    container.set("image", Node::string(h.git_image));
    container.set(
        "command",
        Node::seq(vec![Node::string("/bin/sh"), Node::string("-c")]),
    );
    container.set("args", Node::seq(vec![Node::string(script.join("\n"))]));
    container.set(
        "volumeMounts",
        Node::seq(vec![mount(&volume_name, &dest, false)]),
    );
    let mut volume = Node::map();
    volume.set("name", Node::string(&volume_name));
    volume.set("emptyDir", Node::map());
    Some(Added {
        init_container: Some(container),
        volumes: vec![volume],
        main_mounts: vec![mount(&volume_name, &dest, false)],
        config_map: None,
    })
}

/// `file: {content, filename, chmod, kind}` → a ConfigMap mounted at `dir/filename`.
pub fn file(h: &Handler<'_>, dir: Option<&str>, diag: &mut Diag) -> Option<Added> {
    let at = child(h.path, "file");
    let spec = h.entry.get("file")?;
    if !diag.check_fields(spec, &["content", "filename", "chmod", "kind"], "file", &at) {
        return None;
    }
    let Some(content) = spec.get("content").and_then(Node::as_str) else {
        diag.error(&at, "file needs content (a string)");
        return None;
    };
    let Some(filename) = spec.get("filename").and_then(Node::as_str) else {
        diag.error(&at, "file needs a filename");
        return None;
    };
    let mode = match spec.get("chmod").and_then(Node::scalar_text) {
        None => None,
        Some(chmod) => match chmod_mode(chmod) {
            Some(m) => Some(m),
            None => {
                diag.error(
                    child(&at, "chmod"),
                    format!("chmod \"{chmod}\" must be +x or an octal mode such as 0755"),
                );
                return None;
            }
        },
    };
    Some(mounted_file(
        h,
        dir,
        filename,
        content.to_string(),
        mode,
        &at,
        diag,
    ))
}

fn chmod_mode(chmod: &str) -> Option<i64> {
    match chmod.trim() {
        "+x" | "a+x" | "u+x" | "ugo+x" => Some(0o755),
        other => crate::yaml::int_value(other)
            .or_else(|| i64::from_str_radix(other, 8).ok())
            .filter(|m| (0..=0o777).contains(m)),
    }
}

fn mounted_file(
    h: &Handler<'_>,
    dir: Option<&str>,
    filename: &str,
    content: String,
    mode: Option<i64>,
    at: &str,
    diag: &mut Diag,
) -> Added {
    if filename.contains('/') || filename == ".." || filename.is_empty() {
        diag.error(
            at,
            format!("filename \"{filename}\" must be a plain file name"),
        );
    }
    if let Err(e) = super::validate::config_key(filename) {
        diag.error(
            at,
            format!("filename \"{filename}\" cannot be a ConfigMap key: {e}"),
        );
    }
    let config_map = format!("{}-init-{}", h.job_name, h.index);
    let volume_name = format!("init-{}", h.index);
    let mut item = Node::map();
    item.set("key", Node::string(filename));
    item.set("path", Node::string(filename));
    if let Some(m) = mode {
        item.set("mode", Node::int(m));
    }
    let mut source = Node::map();
    source.set("name", Node::string(&config_map));
    source.set("items", Node::seq(vec![item]));
    let mut volume = Node::map();
    volume.set("name", Node::string(&volume_name));
    volume.set("configMap", source);
    let target = format!(
        "{}/{filename}",
        dir.unwrap_or(DEFAULT_DIR).trim_end_matches('/')
    );
    let mut m = mount(&volume_name, &target, true);
    m.set("subPath", Node::string(filename));
    Added {
        init_container: None,
        volumes: vec![volume],
        main_mounts: vec![m],
        config_map: Some((config_map, vec![(filename.to_string(), content)])),
    }
}

/// `dockerfile: {image, env, path, copy, run, ...}` → the Dockerfile Polyaxon
/// would generate, as a file.
pub fn dockerfile(h: &Handler<'_>, dir: Option<&str>, diag: &mut Diag) -> Option<Added> {
    let at = child(h.path, "dockerfile");
    let spec = h.entry.get("dockerfile")?;
    const FIELDS: &[&str] = &[
        "image",
        "env",
        "path",
        "copy",
        "postRunCopy",
        "run",
        "langEnv",
        "uid",
        "gid",
        "username",
        "filename",
        "workdir",
        "workdirPath",
        "shell",
    ];
    if !diag.check_fields(spec, FIELDS, "dockerfile", &at) {
        return None;
    }
    let text = |key: &str| {
        spec.get(key)
            .filter(|n| !n.is_null())
            .and_then(Node::scalar_text)
            .map(str::to_string)
    };
    let Some(image) = text("image") else {
        diag.error(&at, "dockerfile needs an image");
        return None;
    };
    let workdir = text("workdir").unwrap_or_else(|| "/code".into());
    let env: Vec<(String, String)> = match spec.get("env").map(|n| &n.value) {
        Some(Value::Map(entries, _)) => entries
            .iter()
            .map(|(k, v)| {
                (
                    k.scalar_text().unwrap_or_default().to_string(),
                    v.scalar_text().unwrap_or_default().to_string(),
                )
            })
            .collect(),
        Some(Value::Seq(items, _)) => items
            .iter()
            .filter_map(|p| {
                let pair = p.as_seq()?;
                Some((
                    pair.first()?.scalar_text()?.to_string(),
                    pair.get(1)?.scalar_text()?.to_string(),
                ))
            })
            .collect(),
        _ => Vec::new(),
    };
    let copies = |key: &str, diag: &mut Diag| -> Vec<(String, String)> {
        spec.items(key)
            .filter_map(|c| match &c.value {
                Value::Scalar(s) => Some((s.text.clone(), workdir.clone())),
                Value::Seq(pair, _) if pair.len() == 2 => Some((
                    pair[0].scalar_text()?.to_string(),
                    pair[1].scalar_text()?.to_string(),
                )),
                _ => {
                    diag.error(child(&at, key), "a copy step is a path or [from, to]");
                    None
                }
            })
            .collect()
    };
    let number = |key: &str| match spec.get(key).and_then(Node::resolve) {
        Some(Resolved::Int(t) | Resolved::Str(t)) => Some(t.to_string()),
        _ => None,
    };
    let shell = match spec.get("shell") {
        Some(n) if n.is_null() => None,
        Some(n) => n.scalar_text().map(str::to_string),
        None => Some("/bin/bash".into()),
    };
    let content = render_dockerfile(&Dockerfile {
        image,
        lang_env: text("langEnv"),
        shell,
        path: strings(spec.get("path"), &child(&at, "path"), diag),
        env,
        workdir: workdir.clone(),
        copy: copies("copy", diag),
        run: strings(spec.get("run"), &child(&at, "run"), diag),
        post_run_copy: copies("postRunCopy", diag),
        uid: number("uid"),
        gid: number("gid"),
        username: text("username").unwrap_or_else(|| "polyaxon".into()),
        workdir_path: text("workdirPath"),
    });
    let filename = text("filename").unwrap_or_else(|| "Dockerfile".into());
    Some(mounted_file(h, dir, &filename, content, None, &at, diag))
}

struct Dockerfile {
    image: String,
    lang_env: Option<String>,
    shell: Option<String>,
    path: Vec<String>,
    env: Vec<(String, String)>,
    workdir: String,
    copy: Vec<(String, String)>,
    run: Vec<String>,
    post_run_copy: Vec<(String, String)>,
    uid: Option<String>,
    gid: Option<String>,
    username: String,
    workdir_path: Option<String>,
}

/// The text Polyaxon 2.18's `DockerFileGenerator` writes, byte for byte.
fn render_dockerfile(d: &Dockerfile) -> String {
    let mut out = format!("\nFROM {}\n\n", d.image);
    if let Some(lang) = &d.lang_env {
        for var in ["LC_ALL", "LANG", "LANGUAGE"] {
            out.push_str(&format!("ENV {var} {lang}\n"));
        }
    }
    if let Some(shell) = &d.shell {
        out.push_str(&format!("\nENV SHELL {shell}\n"));
    }
    for p in &d.path {
        out.push_str(&format!("ENV PATH=\"${{PATH}}:{p}\"\n"));
    }
    for (k, v) in &d.env {
        out.push_str(&format!("ENV {k} {v}\n"));
    }
    out.push_str(&format!("WORKDIR {}\n\n", d.workdir));
    for (from, to) in &d.copy {
        out.push_str(&format!("COPY {from} {to}\n"));
    }
    for step in &d.run {
        out.push_str(&format!("RUN {step}\n"));
    }
    for (from, to) in &d.post_run_copy {
        out.push_str(&format!("COPY {from} {to}\n"));
    }
    if let (Some(uid), Some(gid)) = (&d.uid, &d.gid) {
        out.push_str("# Drop root user and use Polyaxon user\n");
        out.push_str(&format!(
            "RUN groupadd -g {gid} -r polyaxon && useradd -r -m -g polyaxon -u {uid} {}\n",
            d.username
        ));
    }
    if let Some(wp) = &d.workdir_path {
        out.push_str(&format!("COPY {wp} {}\n", d.workdir));
    }
    out
}

/// Is this connection a volume the init can read from (not supported yet)?
pub fn is_volume(connection: &Connection) -> bool {
    !matches!(connection.schema, Schema::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_matches_polyaxon() {
        // DockerFileGenerator(...).render() of Polyaxon 2.18 for these inputs.
        let full = Dockerfile {
            image: "python:3.11".into(),
            lang_env: Some("en_US.UTF-8".into()),
            shell: Some("/bin/bash".into()),
            path: vec!["/opt/bin".into()],
            env: vec![("A".into(), "1".into()), ("B".into(), "x y".into())],
            workdir: "/code".into(),
            copy: vec![
                ("req.txt".into(), "/code".into()),
                ("src".into(), "/app/src".into()),
            ],
            run: vec!["pip install -r req.txt".into(), "echo hi".into()],
            post_run_copy: vec![("x".into(), "/code".into())],
            uid: Some("1000".into()),
            gid: Some("1000".into()),
            username: "polyaxon".into(),
            workdir_path: Some("./w".into()),
        };
        assert_eq!(
            render_dockerfile(&full),
            "\nFROM python:3.11\n\nENV LC_ALL en_US.UTF-8\nENV LANG en_US.UTF-8\nENV LANGUAGE en_US.UTF-8\n\nENV SHELL /bin/bash\nENV PATH=\"${PATH}:/opt/bin\"\nENV A 1\nENV B x y\nWORKDIR /code\n\nCOPY req.txt /code\nCOPY src /app/src\nRUN pip install -r req.txt\nRUN echo hi\nCOPY x /code\n# Drop root user and use Polyaxon user\nRUN groupadd -g 1000 -r polyaxon && useradd -r -m -g polyaxon -u 1000 polyaxon\nCOPY ./w /code\n"
        );
        let minimal = Dockerfile {
            image: "busybox".into(),
            lang_env: None,
            shell: Some("/bin/bash".into()),
            path: vec![],
            env: vec![],
            workdir: "/code".into(),
            copy: vec![],
            run: vec![],
            post_run_copy: vec![],
            uid: None,
            gid: None,
            username: "polyaxon".into(),
            workdir_path: None,
        };
        assert_eq!(
            render_dockerfile(&minimal),
            "\nFROM busybox\n\n\nENV SHELL /bin/bash\nWORKDIR /code\n\n"
        );
    }

    #[test]
    fn author_text_in_the_git_script_is_quoted() {
        let catalog = crate::yaml::parse_one(
            "- name: key\n  kind: ssh\n  secret: {name: ssh-key, mountPath: '/etc/k\"$(touch /tmp/x)\"'}\n",
        );
        let (connections, findings) = crate::catalog::load(&catalog, "connections");
        assert!(findings.is_empty(), "{findings:?}");
        let entry = crate::yaml::parse_one(
            "git: {url: \"git@h:o/r.git\", revision: \"$(id)\", flags: [\"`id`\"]}\n",
        );
        let h = Handler {
            entry: &entry,
            path: "run.init[0]",
            index: 0,
            job_name: "j",
            connection: connections.first(),
            git_image: DEFAULT_GIT_IMAGE,
        };
        let mut diag = Diag::default();
        let added = git(&h, Some("/w d"), &mut diag).expect("a clone");
        let container = added.init_container.expect("container");
        let script = container
            .items("args")
            .next()
            .and_then(Node::scalar_text)
            .expect("script")
            .to_string();
        assert!(
            script.contains("'/etc/k\"$(touch /tmp/x)\"'/known_hosts"),
            "{script}"
        );
        assert!(
            script.contains("checkout '$(id)'") && script.contains(" '`id`' "),
            "{script}"
        );
        assert!(
            script.contains("export GIT_SSH_COMMAND=\"ssh -i /tmp/git-ssh-key $hosts\""),
            "{script}"
        );
        assert!(!script.contains("UserKnownHostsFile=/etc"), "{script}");
    }

    #[test]
    fn labels_and_modes() {
        assert_eq!(label("git-My_Repo.v2", 50), "git-my-repo-v2");
        assert_eq!(chmod_mode("+x"), Some(0o755));
        assert_eq!(chmod_mode("0644"), Some(0o644));
        assert_eq!(chmod_mode("rw"), None);
    }
}
