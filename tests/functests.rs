//! Swift's own functional tests (Swift 2.30.1's `test/functional`) against
//! `swirl aio`: `tests.py`, `test_account.py`, `test_container.py`,
//! `test_object.py`, `test_tempurl.py`, `test_staticweb.py`,
//! `test_domain_remap.py`, `test_symlink.py`, `test_versioned_writes.py`,
//! `test_object_versioning.py`, `test_dlo.py`, `test_slo.py` and
//! `test_access_control.py` (all of `test/functional` but s3api), run by
//! `bench/swift-reference/functests` exactly as they run against real Swift
//! (`bench/swift-reference/start`, whose pipeline has domain_remap for
//! example.net, as the aio's): there, 786 pass and the 16 in `SWIFT_SKIPS`
//! skip. Every test that passes
//! against Swift must pass here: a failure, an error, or a skip that Swift
//! does not also have fails this test, which lists them all (but for
//! `SWIRL_SKIPS`, swirl's defaults by design).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness;

const MODULES: &[&str] = &[
    "test/functional/tests.py",
    "test/functional/test_account.py",
    "test/functional/test_container.py",
    "test/functional/test_object.py",
    "test/functional/test_tempurl.py",
    "test/functional/test_staticweb.py",
    "test/functional/test_domain_remap.py",
    "test/functional/test_symlink.py",
    "test/functional/test_versioned_writes.py",
    "test/functional/test_object_versioning.py",
    "test/functional/test_dlo.py",
    "test/functional/test_slo.py",
    "test/functional/test_access_control.py",
];

/// What real Swift 2.30.1 collects in these modules (passed + skipped: 214 + 2,
/// 16 + 1, 28 + 6, 26 + 0, test_tempurl's 75, test_staticweb's 46 + 2
/// (24 tests in each of its two classes), test_domain_remap's 4,
/// test_symlink's 104, test_versioned_writes' 51, test_object_versioning's
/// 100, test_dlo's 32, test_slo's 90 and test_access_control's 0 + 5): fewer
/// means a module failed to load.
pub(crate) const SWIFT_COLLECTED: usize = 802;

/// Skips of swirl's defaults, by design: tempurl takes sha1 signatures only
/// where `allowed_digests` names sha1 (Swift 2.30 takes them by default).
const SWIRL_SKIPS: &[(&str, &str, &str)] = &[(
    "test.functional.test_tempurl.TestTempurlAlgorithms",
    "test_sha1",
    "tempurl does not support sha1 signatures",
)];

/// The skips real Swift's run has too, all by design of the test config
/// (account management on, v1 auth) or of Swift's test source
/// (test_access_control imports a name keystoneclient never had, so it
/// skips its whole RBAC matrix everywhere; tests/functests_keystone.rs runs
/// it with a shim): class, test, skip reason.
pub(crate) const SWIFT_SKIPS: &[(&str, &str, &str)] = &[
    (
        "test.functional.tests.TestAccount",
        "testPUTError",
        "Allow account management is enabled",
    ),
    (
        "test.functional.tests.TestAccountUTF8",
        "testPUTError",
        "Allow account management is enabled",
    ),
    (
        "test.functional.test_account.TestAccountInNonDefaultDomain",
        "test_project_domain_id_header",
        "AUTH VERSION 3 SPECIFIC TEST",
    ),
    (
        "test.functional.test_container.TestContainerACLsAccount1",
        "test_cross_account_acl_ids_in_default_domain",
        "AUTH VERSION 3 SPECIFIC TEST",
    ),
    (
        "test.functional.test_container.TestContainerACLsAccount1",
        "test_cross_account_acl_ids_with_user_in_non_default_domain",
        "AUTH VERSION 3 SPECIFIC TEST",
    ),
    (
        "test.functional.test_container.TestContainerACLsAccount1",
        "test_cross_account_acl_names_in_default_domain",
        "AUTH VERSION 3 SPECIFIC TEST",
    ),
    (
        "test.functional.test_container.TestContainerACLsAccount1",
        "test_cross_account_acl_names_with_user_in_non_default_domain",
        "AUTH VERSION 3 SPECIFIC TEST",
    ),
    (
        "test.functional.test_container.TestContainerACLsAccount4",
        "test_cross_account_acl_ids_with_project_in_non_default_domain",
        "AUTH VERSION 3 SPECIFIC TEST",
    ),
    (
        "test.functional.test_container.TestContainerACLsAccount4",
        "test_cross_account_acl_names_with_project_in_non_default_domain",
        "AUTH VERSION 3 SPECIFIC TEST",
    ),
    (
        "test.functional.test_staticweb.TestStaticWebUTF8",
        "test_redirect_slash_auth_remap_cont",
        "Can't remap UTF8 containers",
    ),
    (
        "test.functional.test_staticweb.TestStaticWebUTF8",
        "test_redirect_slash_anon_remap_cont",
        "Can't remap UTF8 containers",
    ),
    (
        "test.functional.test_access_control.TestRBAC",
        "test_rbac",
        KSC_MISSING,
    ),
    (
        "test.functional.test_access_control.TestRBAC",
        "test_rbac_with_service_prefix",
        KSC_MISSING,
    ),
    (
        "test.functional.test_access_control.TestRBACInfo",
        "test_rbac_info",
        KSC_MISSING,
    ),
    (
        "test.functional.test_access_control.TestRBACInfo",
        "test_rbac_info_with_service_prefix",
        KSC_MISSING,
    ),
    (
        "test.functional.test_access_control.TestContainerACL",
        "test_container_acl",
        KSC_MISSING,
    ),
];

/// Swift 2.30.1's test_access_control does `from keystoneclient.v3 import
/// ksc`, which fails, and then skips every test with this reason.
const KSC_MISSING: &str = "keystoneclient is not available";

/// One test case of junit.xml.
#[derive(Debug)]
pub(crate) struct Case {
    pub(crate) class: String,
    pub(crate) name: String,
    /// `passed`, `failure`, `error` or `skipped`.
    pub(crate) outcome: String,
    pub(crate) message: String,
}

/// The script that fetches Swift's functional tests and runs them.
pub(crate) fn functests_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/swift-reference/functests")
}

/// junit.xml's test cases, read with Python's ElementTree (the suite needs
/// Python anyway) and handed over as tab-separated lines.
pub(crate) fn parse_junit(path: &Path) -> Vec<Case> {
    const SCRIPT: &str = r#"
import sys, xml.etree.ElementTree as ET
for tc in ET.parse(sys.argv[1]).getroot().iter('testcase'):
    outcome, msg = 'passed', ''
    for c in tc:
        if c.tag in ('failure', 'error', 'skipped'):
            outcome = c.tag
            msg = (c.get('message') or c.text or '').strip()
            break
    clean = lambda s: ' '.join(s.split())
    print('\t'.join([outcome, tc.get('classname', ''), tc.get('name', ''), clean(msg)[:300]]))
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "parsing {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let mut f = l.splitn(4, '\t');
            let mut next = || f.next().unwrap_or_default().to_string();
            Case {
                outcome: next(),
                class: next(),
                name: next(),
                message: next(),
            }
        })
        .collect()
}

/// What is wrong with a run of these modules, one line per test (empty:
/// all is well).
fn judge(cases: &[Case]) -> Vec<String> {
    judge_against(cases, SWIFT_COLLECTED, &[SWIFT_SKIPS, SWIRL_SKIPS].concat())
}

/// What is wrong with a run, one line per test: fewer tests than `collected`
/// (Swift's run's count), and every failure, error and skip but the
/// `excused` ones (class, test, a part of the skip's reason).
pub(crate) fn judge_against(
    cases: &[Case],
    collected: usize,
    excused: &[(&str, &str, &str)],
) -> Vec<String> {
    let mut problems = Vec::new();
    if cases.len() < collected {
        problems.push(format!(
            "only {} tests ran; Swift's run has {collected}",
            cases.len()
        ));
    }
    for c in cases {
        let is = |class: &str, name: &str| c.class == class && c.name == name;
        let swift_skips = excused
            .iter()
            .any(|(k, n, why)| is(k, n) && c.message.contains(why));
        match c.outcome.as_str() {
            "passed" => {}
            "skipped" if swift_skips => {}
            "skipped" => problems.push(format!(
                "SKIPPED {}::{} ({}), but it passes against Swift",
                c.class, c.name, c.message
            )),
            other => problems.push(format!(
                "{} {}::{}: {}",
                other.to_uppercase(),
                c.class,
                c.name,
                c.message
            )),
        }
    }
    problems
}

/// Runs `bench/swift-reference/functests` as `cmd` says (endpoint, modules,
/// env) with its results in `results`; returns the test cases and the
/// script's summary. No junit.xml (the tests could not run) fails here.
pub(crate) fn run_functests(mut cmd: Command, results: &Path) -> (Vec<Case>, String) {
    let out = cmd
        .env("OUT_DIR", results)
        .output()
        .expect("run bench/swift-reference/functests");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let junit = results.join("junit.xml");
    assert!(
        junit.exists(),
        "no junit.xml; functests said:\n{stdout}\n{}\npytest.log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(results.join("pytest.log")).unwrap_or_default()
    );
    (parse_junit(&junit), stdout)
}

#[test]
fn swift_functional_tests_pass_against_aio() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("aio");
    let aio = harness::start_aio(&data);
    let mut cmd = Command::new(functests_script());
    cmd.arg(aio.addr().to_string()).args(MODULES);
    let (cases, stdout) = run_functests(cmd, &tmp.path().join("results"));
    let problems = judge(&cases);
    assert!(
        problems.is_empty(),
        "Swift's functional tests against swirl aio:\n{}\n\nsummary:\n{stdout}",
        problems.join("\n")
    );
}

fn case(outcome: &str, class: &str, name: &str, message: &str) -> Case {
    Case {
        outcome: outcome.into(),
        class: class.into(),
        name: name.into(),
        message: message.into(),
    }
}

#[test]
fn functests_judge_excuses_only_swifts_own_skips() {
    let mut cases: Vec<Case> = (0..SWIFT_COLLECTED)
        .map(|i| {
            case(
                "passed",
                "test.functional.tests.TestX",
                &format!("t{i}"),
                "",
            )
        })
        .collect();
    assert!(judge(&cases).is_empty());
    let (k, n, why) = SWIFT_SKIPS[0];
    cases.push(case("skipped", k, n, why));
    assert!(judge(&cases).is_empty());
    // The same test skipped for another reason, another test skipped,
    // a failure and an error: each is named.
    cases.push(case("skipped", k, n, "Multiple policies not enabled"));
    cases.push(case("skipped", "test.functional.tests.TestX", "t1", "nope"));
    cases.push(case("failure", "test.functional.tests.TestX", "t2", "boom"));
    cases.push(case("error", "test.functional.tests.TestX", "t3", "bang"));
    let p = judge(&cases);
    assert_eq!(p.len(), 4, "{p:?}");
    assert!(p[0].starts_with("SKIPPED") && p[0].contains("Multiple policies"));
    assert!(p[2].starts_with("FAILURE") && p[2].contains("::t2: boom"));
    assert!(p[3].starts_with("ERROR"));
    // Too few tests collected is a failure of its own.
    assert_eq!(judge(&cases[..10]).len(), 1);
}
