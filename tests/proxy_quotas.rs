//! Container quotas through `swirl aio`: quota values are checked when set,
//! only the account's owners set them, and PUTs and copies past them get 413;
//! account quotas only resellers set.

use crate::harness::http_request;
use crate::proxy_cluster::token;
use crate::proxy_dlo::aio;

#[test]
fn container_quotas_refuse_uploads_past_them() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = aio(&tmp.path().join("d"), "");
    let addr = aio.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let (tok3, _) = token(addr, "test:tester3", "testing3");
    let req = |t: &str, method: &str, path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut hs = vec![("X-Auth-Token", t)];
        hs.extend_from_slice(h);
        let (s, _, b) = http_request(addr, method, &format!("{acct}{path}"), &hs, body).unwrap();
        (s, String::from_utf8_lossy(&b).into_owned())
    };
    assert_eq!(
        req(
            &tok,
            "PUT",
            "/q",
            &[("X-Container-Meta-Quota-Bytes", "ten")],
            b""
        ),
        (400, "Invalid bytes quota.".into())
    );
    assert_eq!(
        req(
            &tok,
            "PUT",
            "/q",
            &[("X-Container-Write", "test:tester3")],
            b""
        )
        .0,
        201
    );
    assert_eq!(
        req(
            &tok,
            "POST",
            "/q",
            &[("X-Container-Meta-Quota-Count", "-1")],
            b""
        ),
        (400, "Invalid count quota.".into())
    );
    // A user who may write objects may not raise the quota.
    assert_eq!(
        req(
            &tok3,
            "POST",
            "/q",
            &[("X-Container-Meta-Quota-Bytes", "99")],
            b""
        )
        .0,
        403
    );
    assert_eq!(
        req(
            &tok,
            "POST",
            "/q",
            &[("X-Container-Meta-Quota-Bytes", "10")],
            b""
        )
        .0,
        204
    );
    assert_eq!(
        req(&tok, "PUT", "/q/o", &[], b"01234567890"),
        (413, "Upload exceeds quota.".into())
    );
    assert_eq!(req(&tok3, "PUT", "/q/o", &[], b"0123456789").0, 201);
    assert_eq!(
        req(&tok, "GET", "/q/o", &[], b""),
        (200, "0123456789".into())
    );
    assert_eq!(req(&tok, "PUT", "/q/more", &[], b"x").0, 413);
    // A copy into the container counts the source's length.
    assert_eq!(req(&tok, "PUT", "/src", &[], b"").0, 201);
    assert_eq!(req(&tok, "PUT", "/src/s", &[], b"abc").0, 201);
    assert_eq!(
        req(&tok, "COPY", "/src/s", &[("Destination", "q/copy")], b""),
        (413, "Upload exceeds quota.".into())
    );
    assert_eq!(
        req(&tok, "PUT", "/q/copy", &[("X-Copy-From", "src/s")], b"").0,
        413
    );
    // Removing the quota lifts it.
    assert_eq!(
        req(
            &tok,
            "POST",
            "/q",
            &[("X-Remove-Container-Meta-Quota-Bytes", "x")],
            b""
        )
        .0,
        204
    );
    assert_eq!(req(&tok, "PUT", "/q/more", &[], b"x").0, 201);

    // An object-count quota.
    assert_eq!(
        req(
            &tok,
            "PUT",
            "/one",
            &[("X-Container-Meta-Quota-Count", "1")],
            b""
        )
        .0,
        201
    );
    assert_eq!(req(&tok, "PUT", "/one/a", &[], b"a").0, 201);
    assert_eq!(req(&tok, "PUT", "/one/b", &[], b"b").0, 413);

    let (_, _, b) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    let info: serde_json::Value = serde_json::from_slice(&b).unwrap();
    assert_eq!(info["container_quotas"], serde_json::json!({}));
}

#[test]
fn account_quotas_are_set_by_resellers_and_refuse_uploads_past_them() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = aio(&tmp.path().join("d"), "");
    let addr = aio.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let (reseller, _) = token(addr, "admin:admin", "admin");
    let (tok3, _) = token(addr, "test:tester3", "testing3");
    let req = |t: &str, method: &str, path: &str, h: &[(&str, &str)], body: &[u8]| {
        let mut hs = vec![("X-Auth-Token", t)];
        hs.extend_from_slice(h);
        let (s, _, b) = http_request(addr, method, &format!("{acct}{path}"), &hs, body).unwrap();
        (s, String::from_utf8_lossy(&b).into_owned())
    };
    // The account's owner may not set it; a reseller may, as a number.
    assert_eq!(
        req(
            &tok,
            "POST",
            "",
            &[("X-Account-Meta-Quota-Bytes", "100")],
            b""
        )
        .0,
        403
    );
    assert_eq!(
        req(
            &tok,
            "POST",
            "",
            &[("X-Remove-Account-Meta-Quota-Bytes", "x")],
            b""
        )
        .0,
        403
    );
    assert_eq!(
        req(
            &reseller,
            "POST",
            "",
            &[("X-Account-Meta-Quota-Bytes", "lots")],
            b""
        )
        .0,
        400
    );
    assert_eq!(
        req(
            &reseller,
            "POST",
            "",
            &[("X-Account-Meta-Quota-Bytes", "10")],
            b""
        )
        .0,
        204
    );
    assert_eq!(
        req(
            &tok,
            "PUT",
            "/aq",
            &[("X-Container-Write", "test:tester3")],
            b""
        )
        .0,
        201
    );
    assert_eq!(req(&tok, "PUT", "/aq/a", &[], b"0123456").0, 201);
    // The account's stats follow the container's (its updates), as in Swift.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (_, h, _) =
            http_request(addr, "HEAD", &acct, &[("X-Auth-Token", tok.as_str())], b"").unwrap();
        if crate::harness::header(&h, "x-account-bytes-used") == Some("7") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "account stats: {h:?}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(
        req(&tok, "PUT", "/aq/b", &[], b"0123"),
        (413, "Upload exceeds quota.".into())
    );
    // A copy is a PUT of the source's length.
    assert_eq!(
        req(&tok, "PUT", "/aq/c", &[("X-Copy-From", "aq/a")], b"").0,
        413
    );
    // Whoever may not write there learns nothing of the quota.
    assert_eq!(
        http_request(addr, "PUT", &format!("{acct}/aq/b"), &[], b"0123")
            .unwrap()
            .0,
        401
    );
    assert_eq!(req(&tok3, "PUT", "/aq/b", &[], b"012").0, 201);
    // Removed by a reseller: no limit.
    assert_eq!(
        req(
            &reseller,
            "POST",
            "",
            &[("X-Remove-Account-Meta-Quota-Bytes", "x")],
            b""
        )
        .0,
        204
    );
    assert_eq!(req(&tok, "PUT", "/aq/d", &[], &[b'x'; 100]).0, 201);
}
