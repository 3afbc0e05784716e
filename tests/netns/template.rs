//! The multi-node configs, rendered from the templates the deployment guide
//! ships (`docs/multi-node/*.toml`, whose `${NAME}` variables an operator
//! fills with envsubst), so the guide and the tests cannot drift apart.
//! A test may then override single keys (`section.key`) of the result.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the templates live.
pub fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/multi-node")
}

/// Replaces every `${NAME}` of `text` with `vars[NAME]`; panics on a name it
/// does not know (a template and its users must agree).
pub fn render(text: &str, vars: &BTreeMap<&str, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("unclosed ${ in template") + at;
        let name = &rest[at + 2..end];
        let v = vars
            .get(name)
            .unwrap_or_else(|| panic!("template variable {name} not set"));
        out.push_str(v);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Reads template `name` (e.g. `object-server.toml`) and renders it.
pub fn render_file(name: &str, vars: &BTreeMap<&str, String>) -> String {
    let p = dir().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    render(&text, vars)
}

/// Sets `key` (`key` at the top level, or `table.key`) in TOML `text`.
pub fn apply_overrides(text: &str, overrides: &[(String, toml::Value)]) -> String {
    if overrides.is_empty() {
        return text.to_string();
    }
    let mut doc: toml::Table = toml::from_str(text).expect("rendered config is TOML");
    for (key, value) in overrides {
        let (table, leaf) = match key.rsplit_once('.') {
            Some((t, k)) => (Some(t), k),
            None => (None, key.as_str()),
        };
        let target = match table {
            None => &mut doc,
            Some(t) => doc
                .entry(t.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap_or_else(|| panic!("{t} is not a table")),
        };
        target.insert(leaf.to_string(), value.clone());
    }
    toml::to_string(&doc).expect("serialize config")
}

#[test]
fn renders_and_overrides() {
    let vars: BTreeMap<&str, String> = [("A", "x".to_string()), ("B", "2".to_string())].into();
    assert_eq!(
        render("a = \"${A}\"\nb = ${B}\n", &vars),
        "a = \"x\"\nb = 2\n"
    );
    let t = apply_overrides(
        "a = 1\n[s]\nk = 2\n",
        &[
            ("s.k".into(), toml::Value::Integer(5)),
            ("t.n".into(), toml::Value::Boolean(true)),
            ("a".into(), toml::Value::Integer(3)),
        ],
    );
    let v: toml::Table = toml::from_str(&t).unwrap();
    assert_eq!(v["a"].as_integer(), Some(3));
    assert_eq!(v["s"]["k"].as_integer(), Some(5));
    assert_eq!(v["t"]["n"].as_bool(), Some(true));
}
