//! `{{ }}` templates, rendered the way Polyaxon's Jinja does it but strict:
//! an undefined name is an error with the field path, never an empty string,
//! and a string stays a string (no `ast.literal_eval` retyping).

use std::collections::BTreeMap;
use std::sync::LazyLock;

use minijinja::value::{Value as JValue, ValueKind};
use minijinja::{Environment, UndefinedBehavior};

use super::diag::{At, Diag};
use crate::results::head;
use crate::yaml::{Node, Style, Value};

/// A rendered field is a scalar: the same bound as `--max-scalar-bytes`' default.
const MAX_RENDERED_BYTES: usize = 16 << 20;

/// Global functions minijinja provides (`range`, `dict`). Not `namespace`:
/// the one mutable value, it can be made to hold itself (`{% set n.a = [n]
/// %}`), and printing or comparing it then recurses without end.
const BUILTINS: &[&str] = &["range", "dict", "debug", "loop"];

pub fn has_template(text: &str) -> bool {
    text.contains("{{") || text.contains("{%")
}

/// Does any value in this tree hold a template? (Keys are never rendered.)
pub fn holds_template(node: &Node) -> bool {
    match &node.value {
        Value::Scalar(scalar) => has_template(&scalar.text),
        Value::Seq(items, _) => items.iter().any(holds_template),
        Value::Map(entries, _) => entries.iter().any(|(_, v)| holds_template(v)),
    }
}

pub struct Templates {
    context: JValue,
    /// Top-level names of the context, for "did you mean" hints.
    names: Vec<String>,
}

/// One environment for every template of a run: setting one up (builtins,
/// the guarded filters) per operation cost more than most renders.
static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // A template is a field value: bound its work so a hostile loop cannot hang us.
    env.set_fuel(Some(200_000));
    env.set_recursion_limit(64);
    guard_builtin_filters(&mut env);
    env.set_formatter(|out, _state, value| {
        out.write_str(&python_str(value))
            .map_err(minijinja::Error::from)
    });
    env
});

impl Templates {
    /// `context`: params, globals and inputs; `connections`: the catalog as
    /// templates see it (shared by the operations of a run).
    pub fn new(context: &serde_json::Value, connections: &JValue) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut values: BTreeMap<String, JValue> = BTreeMap::new();
        for (name, value) in context.as_object().into_iter().flatten() {
            names.push(name.clone());
            values.insert(name.clone(), JValue::from_serialize(value));
        }
        names.push("connections".to_string());
        values.insert("connections".to_string(), connections.clone());
        Templates {
            context: JValue::from(values),
            names,
        }
    }

    /// Renders every templated string under `node`, in place.
    pub fn render_tree(&self, node: &mut Node, path: &str, diag: &mut Diag) {
        self.render_at(node, At::Root(path), diag);
    }

    fn render_at(&self, node: &mut Node, path: At<'_>, diag: &mut Diag) {
        match &mut node.value {
            Value::Scalar(scalar) if has_template(&scalar.text) => {
                // The path as findings show it: inside a referenced component
                // the placeholder root is not a field of the item.
                let budget = match path.to_string().strip_prefix(super::polyaxon::IN_COMPONENT) {
                    Some(rest) => crate::template_guard::TemplateBudget::start(format_args!(
                        "the referenced component's {}",
                        rest.trim_start_matches('.')
                    )),
                    None => crate::template_guard::TemplateBudget::start(format_args!("{path}")),
                };
                let rendered = self.render_scalar(&scalar.text);
                drop(budget);
                match rendered {
                    Ok((text, typed)) => {
                        scalar.text = text;
                        if typed {
                            scalar.style = Style::Plain;
                            scalar.tag = Some(crate::yaml::TEMPLATED.to_string());
                        } else {
                            scalar.tag = None;
                            if scalar.style == Style::Plain {
                                scalar.style = Style::Auto;
                            }
                        }
                    }
                    Err(message) => diag.error(path, message),
                }
            }
            Value::Scalar(_) => {}
            Value::Seq(items, _) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.render_at(item, At::Index(&path, i), diag);
                }
            }
            Value::Map(entries, _) => {
                for (k, v) in entries.iter_mut() {
                    let key = k.scalar_text().unwrap_or_default();
                    if matches!(key, "command" | "args")
                        && let Value::Seq(items, _) = &mut v.value
                    {
                        // As Polyaxon: an argument that renders to nothing (a
                        // false flag, an empty optional input) is left out.
                        let templated: Vec<bool> = items
                            .iter()
                            .map(|i| i.scalar_text().is_some_and(has_template))
                            .collect();
                        let at = At::Key(&path, key);
                        for (i, item) in items.iter_mut().enumerate() {
                            self.render_at(item, At::Index(&at, i), diag);
                        }
                        let mut keep = templated
                            .iter()
                            .zip(items.iter())
                            .map(|(t, item)| !(*t && item.scalar_text() == Some("")));
                        let flags: Vec<bool> = keep.by_ref().collect();
                        let mut flags = flags.into_iter();
                        items.retain(|_| flags.next().unwrap_or(true));
                        continue;
                    }
                    self.render_at(v, At::Key(&path, key), diag);
                }
            }
        }
    }

    /// The rendered text, and whether it is a lone expression whose value is a
    /// number or a boolean (written as such, so `containerPort: "{{ port }}"`
    /// stays a number).
    fn render_scalar(&self, text: &str) -> Result<(String, bool), String> {
        if calls_cycle_without_values(text) {
            // minijinja divides by the number of values (a panic at none).
            return Err(format!(
                "template error in {}: loop.cycle() needs values written out",
                shown(text)
            ));
        }
        if let Some(expr) = lone_expression(text)
            && let Ok(compiled) = ENVIRONMENT.compile_expression(expr)
        {
            let value = compiled.eval(&self.context).map_err(|e| {
                match self.unknown_name(compiled.undeclared_variables(false)) {
                    Some(name) => self.undefined(&name),
                    None => self.explain(&e, text),
                }
            })?;
            if value.is_undefined() {
                return Err(self.undefined_expression(expr));
            }
            let typed = matches!(value.kind(), ValueKind::Number | ValueKind::Bool);
            return fits(python_str(&value)).map(|text| (text, typed));
        }
        let template = ENVIRONMENT
            .template_from_str(text)
            .map_err(|e| self.explain(&e, text))?;
        if let Some(name) = self.unknown_name(template.undeclared_variables(false)) {
            return Err(self.undefined(&name));
        }
        let rendered = template
            .render(&self.context)
            .map_err(|e| self.explain(&e, text))?;
        fits(rendered).map(|text| (text, false))
    }

    fn undefined(&self, name: &str) -> String {
        if name == "namespace" {
            return "namespace() is not available in templates here: a namespace can be made to hold itself, which no bound stops; use loop variables and filters".to_string();
        }
        let hint = crate::results::did_you_mean(name, self.names.iter().map(String::as_str))
            .map(|s| format!("; did you mean \"{s}\"?"))
            .unwrap_or_default();
        format!(
            "undefined template variable \"{name}\" (declare it as an input, or pass it in params){hint}"
        )
    }

    fn undefined_expression(&self, expr: &str) -> String {
        let root = expr.split(['.', '[', ' ', '|']).next().unwrap_or(expr);
        let is_name = !root.is_empty() && root.chars().all(|c| c == '_' || c.is_alphanumeric());
        if is_name && !self.names.iter().any(|n| n == root) {
            return self.undefined(root);
        }
        if root == "globals" {
            return format!(
                "\"{expr}\" is not defined; available globals: {}",
                crate::convert::params::GLOBALS.join(", ")
            );
        }
        format!("\"{expr}\" is not defined")
    }

    /// A name the template uses that is neither in the context nor a builtin.
    fn unknown_name(&self, used: std::collections::HashSet<String>) -> Option<String> {
        used.into_iter()
            .find(|n| !self.names.contains(n) && !BUILTINS.contains(&n.as_str()))
    }

    /// An error's message. Unknown names were reported before rendering (the
    /// template is not compiled again here: its constants may be large).
    fn explain(&self, error: &minijinja::Error, text: &str) -> String {
        // A detail may quote a value of the template (a 10 MB name, say).
        let detail = match error.detail() {
            Some(detail) if detail.len() > 500 => {
                format!("{}… ({} bytes)", head(detail, 500), detail.len())
            }
            Some(detail) => detail.to_string(),
            None => error.kind().to_string(),
        };
        if error.kind() == minijinja::ErrorKind::UndefinedError && text.contains("connections[") {
            let known: Vec<String> = self
                .context
                .get_attr("connections")
                .ok()
                .and_then(|c| {
                    c.try_iter()
                        .ok()
                        .map(|it| it.map(|k| k.to_string()).collect())
                })
                .unwrap_or_default();
            let named = named_connections(text);
            if named.iter().any(|n| !known.contains(n)) || named.is_empty() {
                let known = if known.is_empty() {
                    "no catalog provided".to_string()
                } else {
                    format!("known: {}", known.join(", "))
                };
                return format!(
                    "template error in {}: a connection it names is not in the catalog ({known})",
                    shown(text)
                );
            }
            let fields: Vec<String> = named
                .iter()
                .filter_map(|n| self.context.get_attr("connections").ok()?.get_attr(n).ok())
                .filter_map(|c| {
                    c.try_iter()
                        .ok()
                        .map(|it| it.map(|k| k.to_string()).collect::<Vec<_>>())
                })
                .flatten()
                .collect();
            return format!(
                "template error in {}: {detail}; connections['NAME'] is the entry's schema, with: {}",
                shown(text),
                fields.join(", ")
            );
        }
        if error.kind() == minijinja::ErrorKind::UndefinedError && text.contains("globals") {
            return format!(
                "template error in {}: {detail}; available globals: {}",
                shown(text),
                crate::convert::params::GLOBALS.join(", ")
            );
        }
        format!("template error in {}: {detail}", shown(text))
    }
}

/// Most groups `batch` and `slice` may make: they reserve room for `count`
/// items up front, and a count near `usize::MAX` panics before any
/// allocation (so before the memory bound can see it).
const MAX_GROUP_COUNT: usize = 1 << 20;

/// Widths and precisions a format may ask for: Rust's formatting panics past
/// 65,535, and its float printing already at 65,535 for `%e`.
const MAX_FORMAT_NUMBER: u64 = 4096;

/// Puts checks in front of the builtin filters and tests whose arguments can
/// panic, and removes `namespace` (see [`BUILTINS`]).
fn guard_builtin_filters(env: &mut Environment<'static>) {
    use minijinja::value::Rest;
    use minijinja::{Error, ErrorKind, State, filters};
    env.remove_global("namespace");
    // minijinja's own takes a remainder by zero (or `i128::MIN % -1`).
    env.add_test("divisibleby", |value: &JValue, by: &JValue| {
        if let (Ok(a), Ok(b)) = (i128::try_from(value.clone()), i128::try_from(by.clone())) {
            return match b {
                0 => Err(Error::new(ErrorKind::InvalidOperation, "divisibleby 0")),
                b => Ok(a.checked_rem(b).unwrap_or(0) == 0),
            };
        }
        match (f64::try_from(value.clone()), f64::try_from(by.clone())) {
            (Ok(_), Ok(0.0)) => Err(Error::new(ErrorKind::InvalidOperation, "divisibleby 0")),
            (Ok(a), Ok(b)) => Ok(a % b == 0.0),
            _ => Ok(false),
        }
    });
    // `batch` and `slice` take the same arguments and reserve `count` alike.
    type Grouping = fn(&State, JValue, usize, Option<JValue>) -> Result<JValue, Error>;
    for (name, group) in [
        ("batch", filters::batch as Grouping),
        ("slice", filters::slice),
    ] {
        env.add_filter(
            name,
            move |state: &State, value: JValue, count: usize, fill: Option<JValue>| {
                if count > MAX_GROUP_COUNT {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("count {count} is over {MAX_GROUP_COUNT}"),
                    ));
                }
                group(state, value, count, fill)
            },
        );
    }
    env.add_filter(
        "format",
        |state: &State, format: &JValue, args: Rest<JValue>| {
            if let Some(number) = format.as_str().and_then(largest_format_number)
                && number > MAX_FORMAT_NUMBER
            {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("a width or precision of {number} is over {MAX_FORMAT_NUMBER}"),
                ));
            }
            filters::format(state, format, args)
        },
    );
}

/// A template quoted in a message: its start, when it is long (a message is
/// kept per field, and a template may be repeated by aliases).
fn shown(text: &str) -> String {
    const SHOWN: usize = 200;
    if text.len() <= SHOWN {
        return format!("{text:?}");
    }
    format!("{:?}… ({} bytes)", head(text, SHOWN), text.len())
}

/// `cycle(` with nothing, or only a splat (`*values`), before its `)`.
fn calls_cycle_without_values(text: &str) -> bool {
    text.match_indices("cycle").any(|(at, word)| {
        let rest = text[at + word.len()..].trim_start();
        rest.strip_prefix('(')
            .map(str::trim_start)
            .is_some_and(|args| args.starts_with(')') || args.starts_with('*'))
    })
}

/// The largest number written in the conversion specifiers of a printf-style
/// format (`%-10.3f` gives 10): `%%` is a percent sign, `%(key)` names an
/// argument, and a specifier ends at its conversion letter.
fn largest_format_number(format: &str) -> Option<u64> {
    let mut largest = None;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        if chars.peek() == Some(&'%') {
            chars.next();
            continue;
        }
        if chars.peek() == Some(&'(') {
            // A mapping key, `%(name)s`: its letters do not end the specifier.
            for c in chars.by_ref() {
                if c == ')' {
                    break;
                }
            }
        }
        let mut number: Option<u64> = None;
        while let Some(&c) = chars.peek() {
            if let Some(digit) = c.to_digit(10) {
                number = Some(
                    number
                        .unwrap_or(0)
                        .saturating_mul(10)
                        .saturating_add(u64::from(digit)),
                );
            } else {
                largest = largest.max(number);
                number = None;
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            chars.next();
        }
        largest = largest.max(number);
    }
    largest
}

/// A rendered field no larger than a scalar may be, and within what the
/// run's templates may render in all.
fn fits(rendered: String) -> Result<String, String> {
    if rendered.len() > MAX_RENDERED_BYTES {
        return Err(format!(
            "the template renders to {} bytes, more than a field may hold ({MAX_RENDERED_BYTES})",
            rendered.len()
        ));
    }
    crate::template_guard::take_rendered(rendered.len()).map_err(|limit| {
        format!(
            "the templates of this run render more than {limit} bytes in all (--max-rendered-bytes)"
        )
    })?;
    Ok(rendered)
}

/// The names in `connections['NAME']` / `connections["NAME"]` of a template.
fn named_connections(text: &str) -> Vec<String> {
    text.split("connections[")
        .skip(1)
        .filter_map(|rest| {
            let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let inner = &rest[1..];
            inner.find(quote).map(|end| inner[..end].to_string())
        })
        .collect()
}

/// `{{ expr }}` and nothing else.
fn lone_expression(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}")).then(|| inner.trim())
}

/// Values as Python's `str()` prints them, since Polyaxon's Jinja runs on
/// Python: `True`, `None`, `0.05`, `1e-05`.
fn python_str(value: &JValue) -> String {
    match value.kind() {
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.to_string(),
        ValueKind::None => "None".to_string(),
        ValueKind::Undefined => String::new(),
        ValueKind::Number => match value.as_i64() {
            Some(i) if !value.to_string().contains(['.', 'e', 'E', 'i', 'n']) => i.to_string(),
            _ => f64::try_from(value.clone()).map_or_else(|_| value.to_string(), python_float),
        },
        _ => value.to_string(),
    }
}

fn python_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e16).contains(&abs) {
        // Python: 1e-05, 1.5e+16
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let s = format!("{f}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn t() -> Templates {
        Templates::new(
            &json!({"lr": 0.05, "epochs": 3, "flag": true, "name": "x", "small": 0.00001, "globals": {"name": "run"}}),
            &JValue::from_serialize(json!({})),
        )
    }

    #[test]
    fn renders_like_python() {
        let t = t();
        assert_eq!(t.render_scalar("--lr={{ lr }}").expect("ok").0, "--lr=0.05");
        assert_eq!(
            t.render_scalar("{{ epochs }}").expect("ok"),
            ("3".into(), true)
        );
        assert_eq!(
            t.render_scalar("{{ flag }}").expect("ok"),
            ("True".into(), true)
        );
        assert_eq!(
            t.render_scalar("{{ name }}").expect("ok"),
            ("x".into(), false)
        );
        assert_eq!(t.render_scalar("{{ small }}").expect("ok").0, "1e-05");
        assert_eq!(
            t.render_scalar("{{ globals.name }}-{{ epochs * 2 }}")
                .expect("ok")
                .0,
            "run-6"
        );
    }

    #[test]
    fn undefined_is_an_error() {
        let t = t();
        let e = t.render_scalar("--x={{ nocache }}").expect_err("undefined");
        assert!(e.contains("undefined template variable \"nocache\""), "{e}");
        let e = t
            .render_scalar("{{ globals.created_at }}")
            .expect_err("undefined");
        assert!(e.contains("available globals"), "{e}");
        let e = t
            .render_scalar("{% for i in range(100000000) %}x{% endfor %}")
            .expect_err("fuel");
        assert!(!e.is_empty());
    }

    #[test]
    fn a_rendered_field_is_no_larger_than_a_scalar_may_be() {
        let t = t();
        for template in ["{{ 'ab' * 9000000 }}", "-{{ 'ab' * 9000000 }}"] {
            let e = t.render_scalar(template).expect_err("too large");
            assert!(e.contains("more than a field may hold"), "{e}");
        }
        assert!(t.render_scalar("{{ 'ab' * 8000000 }}").is_ok());
    }

    #[test]
    fn filter_arguments_that_would_panic_are_errors() {
        let t = t();
        for template in [
            "{{ \"%.70000f\"|format(1) }}",
            "{{ \"%70000d\"|format(1) }}",
            "{{ \"%(a)99999999999999999999999s\"|format(a=1) }}",
            "{{ range(3)|batch(2**62)|list }}",
            "{{ [1]|batch(9223372036854775807)|list }}",
            "{{ range(10)|slice(9223372036854775807)|list }}",
        ] {
            let e = t.render_scalar(template).expect_err(template);
            assert!(e.contains(" is over "), "{template}: {e}");
        }
        assert_eq!(
            t.render_scalar("{{ \"%5.2f%%|%-3d|\"|format(1.5, 7) }}")
                .expect("ok")
                .0,
            " 1.50%|7  |"
        );
        assert_eq!(
            t.render_scalar("{{ range(5)|batch(2)|list }}")
                .expect("ok")
                .0,
            "[[0, 1], [2, 3], [4]]"
        );
        assert_eq!(largest_format_number("%% %-10.300f %d"), Some(300));
        assert_eq!(largest_format_number("100%%"), None);
        assert_eq!(largest_format_number("%(a1)5s"), Some(5));
    }

    #[test]
    fn builtins_that_would_panic_or_recurse_without_end_are_errors() {
        let t = t();
        for template in [
            "{{ 5 is divisibleby 0 }}",
            "{{ 5 is divisibleby false }}",
            "{{ 5.5 is divisibleby 0.0 }}",
            "{% for i in range(3) %}{{ loop.cycle() }}{% endfor %}",
            "{% for i in range(3) %}{{ loop.cycle( *[] ) }}{% endfor %}",
            "{% set n = namespace() %}{% set n.a = [n] %}{{ n.a }}",
            "{{ '%.65535e'|format(1.0) }}",
        ] {
            assert!(t.render_scalar(template).is_err(), "{template}");
        }
        let e = t
            .render_scalar("{% set n = namespace() %}{{ 1 }}")
            .expect_err("namespace");
        assert!(e.contains("namespace() is not available"), "{e}");
        assert_eq!(
            t.render_scalar(
                "{{ (-170141183460469231731687303715884105727 - 1) is divisibleby -1 }}"
            )
            .expect("ok")
            .0,
            "True"
        );
        assert_eq!(
            t.render_scalar(
                "{{ 6 is divisibleby 3 }}-{{ 7 is divisibleby 2 }}-{{ 'a' is divisibleby 2 }}"
            )
            .expect("ok")
            .0,
            "True-False-False"
        );
        assert_eq!(
            t.render_scalar("{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{% endfor %}")
                .expect("ok")
                .0,
            "aba"
        );
    }
}
