//! The multi-node configs, rendered from the templates the deployment guide
//! ships (`docs/multi-node/*.toml`, whose `${NAME}` variables an operator
//! fills with envsubst), so the guide and the tests cannot drift apart.
//! A test may then override single keys (`section.key`) of the result.
//! Processes start with the commands of the guide's systemd units
//! (`docs/multi-node/systemd/swirl-<daemon>.service`), their binary and
//! `/etc/swirl/` mapped to the test's own ([`unit_command`]).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

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

/// Where the guide's units run the binary from, and keep the configs.
pub const UNIT_BIN: &str = "/usr/local/bin/swirl";
pub const UNIT_ETC: &str = "/etc/swirl/";

/// The `ExecStart=` argv of unit `swirl-<daemon>.service`.
pub fn unit_exec_start(daemon: &str) -> Vec<String> {
    let p = dir()
        .join("systemd")
        .join(format!("swirl-{daemon}.service"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ExecStart="))
        .collect();
    assert_eq!(lines.len(), 1, "{}: one ExecStart line", p.display());
    lines[0].split_whitespace().map(str::to_string).collect()
}

/// The command unit `swirl-<daemon>.service` runs, with the guide's
/// `/usr/local/bin/swirl` replaced by `bin` and its `/etc/swirl/` by `etc`:
/// what a test starts is what the guide tells an operator to start.
pub fn unit_command(daemon: &str, bin: &Path, etc: &Path) -> Vec<OsString> {
    let argv = unit_exec_start(daemon);
    assert_eq!(argv[0], UNIT_BIN, "swirl-{daemon}.service runs {}", argv[0]);
    assert_eq!(
        argv.get(1).map(String::as_str),
        Some(daemon),
        "swirl-{daemon}.service"
    );
    let mut out = vec![bin.as_os_str().to_owned()];
    out.extend(argv[1..].iter().map(|a| match a.strip_prefix(UNIT_ETC) {
        Some(rest) => etc.join(rest).into_os_string(),
        None => OsString::from(a),
    }));
    out
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

/// Every role of `swirl` that runs as a service of a multi-node cluster (a
/// server or one of its daemons, from `cli/src/main.rs`) has its unit in
/// the guide, running `swirl <role> /etc/swirl/<its server>.toml`, and
/// every unit is one of them.
#[test]
fn systemd_units_match_the_roles() {
    let main = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../cli/src/main.rs"),
    )
    .unwrap();
    let kinds = ["-server", "-replicator", "-auditor", "-updater", "-expirer"];
    let mut roles: Vec<String> = main
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\" =>"))
        .map(|(r, _)| r.to_string())
        .filter(|r| kinds.iter().any(|k| r.ends_with(k)))
        .collect();
    roles.sort();
    assert!(roles.len() >= 12, "{roles:?}");
    let mut units: Vec<String> = std::fs::read_dir(dir().join("systemd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .map(|f| {
            f.strip_prefix("swirl-")
                .and_then(|f| f.strip_suffix(".service"))
                .unwrap_or_else(|| panic!("{f}: not swirl-<role>.service"))
                .to_string()
        })
        .collect();
    units.sort();
    assert_eq!(units, roles, "units in docs/multi-node/systemd vs roles");
    for role in &roles {
        let argv = unit_exec_start(role);
        let server = if role == "proxy-server" {
            "proxy".to_string()
        } else {
            role.split('-').next().unwrap().to_string()
        };
        let config = format!("{UNIT_ETC}{server}-server.toml");
        assert_eq!(
            argv,
            [UNIT_BIN, role.as_str(), config.as_str()],
            "swirl-{role}.service"
        );
        assert!(
            dir().join(format!("{server}-server.toml")).exists(),
            "swirl-{role}.service: no template for {config}"
        );
    }
}
