//! API versions: the discovery documents and the microversion a request
//! asks for (`OpenStack-API-Version: volume 3.70`).

use http::HeaderMap;
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The newest microversion served (python-cinderclient 9's maximum).
pub const MAX: (u32, u32) = (3, 70);
pub const MIN: (u32, u32) = (3, 0);

/// A microversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Micro(pub u32, pub u32);

impl Micro {
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.0, self.1) >= (major, minor)
    }
}

impl std::fmt::Display for Micro {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// The microversion a request asks for (3.0 when it says nothing).
pub fn requested(h: &HeaderMap) -> Result<Micro> {
    let Some(v) = h.get("openstack-api-version") else {
        return Ok(Micro(MIN.0, MIN.1));
    };
    let text = v
        .to_str()
        .map_err(|_| Error::BadRequest("OpenStack-API-Version is not text".into()))?;
    let mut parts = text.split_whitespace();
    let (Some(service), Some(ver), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::BadRequest(format!(
            "Invalid OpenStack-API-Version {text:?}: expected \"volume X.Y\""
        )));
    };
    if !service.eq_ignore_ascii_case("volume") {
        // Another service's version: not ours to judge.
        return Ok(Micro(MIN.0, MIN.1));
    }
    if ver.eq_ignore_ascii_case("latest") {
        return Ok(Micro(MAX.0, MAX.1));
    }
    let parsed = ver
        .split_once('.')
        .and_then(|(a, b)| Some(Micro(a.parse().ok()?, b.parse().ok()?)));
    let Some(m) = parsed else {
        return Err(Error::BadRequest(format!(
            "Version string {ver:?} is not valid; use MAJOR.MINOR"
        )));
    };
    if m < Micro(MIN.0, MIN.1) || m > Micro(MAX.0, MAX.1) {
        return Err(Error::NotAcceptable(format!(
            "Version {m} is not supported by the API. Minimum is {}.{} and maximum is {}.{}.",
            MIN.0, MIN.1, MAX.0, MAX.1
        )));
    }
    Ok(m)
}

/// The v3 entry of the versions document; `base` is `http://host:port`.
fn v3(base: &str) -> Value {
    json!({
        "id": "v3.0",
        "status": "CURRENT",
        "version": format!("{}.{}", MAX.0, MAX.1),
        "min_version": format!("{}.{}", MIN.0, MIN.1),
        "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/v3/")}],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.volume+json;version=3"
        }]
    })
}

/// `GET /` and `GET /v3/`: the versions list.
pub fn versions(base: &str) -> Value {
    json!({ "versions": [v3(base)] })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("openstack-api-version", v.parse().unwrap());
        h
    }

    #[test]
    fn microversions() {
        assert_eq!(requested(&HeaderMap::new()).unwrap(), Micro(3, 0));
        assert_eq!(requested(&h("volume 3.70")).unwrap(), Micro(3, 70));
        assert_eq!(requested(&h("volume latest")).unwrap(), Micro(3, 70));
        assert_eq!(requested(&h("compute 2.1")).unwrap(), Micro(3, 0));
        assert!(matches!(
            requested(&h("volume 3.71")),
            Err(Error::NotAcceptable(_))
        ));
        assert!(matches!(
            requested(&h("volume 2.0")),
            Err(Error::NotAcceptable(_))
        ));
        assert!(matches!(
            requested(&h("volume x")),
            Err(Error::BadRequest(_))
        ));
        assert!(matches!(requested(&h("volume")), Err(Error::BadRequest(_))));
        assert!(Micro(3, 44).at_least(3, 27));
        assert!(!Micro(3, 0).at_least(3, 27));
        assert_eq!(versions("http://h")["versions"][0]["version"], "3.70");
    }
}
