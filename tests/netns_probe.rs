//! Swift's probe tests on a 4-node swirl cluster in network namespaces.

use std::time::Instant;

use crate::netns::ledger::Ledger;
use crate::netns::NetnsCluster;

#[test]
fn netns_probe_smoke() {
    let t = Instant::now();
    let c = NetnsCluster::start();
    eprintln!("cluster up in {:?}", t.elapsed());
    let cl = c.client();
    assert_eq!(cl.request("PUT", "c", &[], b"").0, 201);
    let mut l = Ledger::new(cl.account_name());
    for i in 0..20 {
        let body = format!("hello {i}").into_bytes();
        let r = cl.request("PUT", &format!("c/o{i}"), &[], &body);
        assert_eq!(r.0, 201);
        l.put(&format!("c/o{i}"), &body, &[]);
    }
    l.verify_reads(&cl);
    l.verify_replicas(&c);
    let runs = c.run_daemon_everywhere("object-replicator", &["--once"]);
    for r in &runs {
        eprintln!("{r}");
        r.assert_success();
    }
    eprintln!("total {:?}", t.elapsed());
}
