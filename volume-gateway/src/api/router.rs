//! The Cinder v3 routes the gateway serves, from method and path alone.

use http::Method;

use crate::error::{Error, Result};

/// A collection of the project's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Volumes,
    Snapshots,
    Attachments,
}

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /`: the versions (300 Multiple Choices, as Cinder).
    Versions,
    /// `GET /v3` or `/v3/`: the v3 version document.
    Version,
    /// `GET /healthcheck`.
    Healthcheck,
    /// `GET /metrics` (Prometheus).
    Metrics,
    /// `GET /v3/{project}/{kind}` (summary) or `.../detail`.
    List {
        project: String,
        kind: Kind,
        detail: bool,
    },
    /// `POST /v3/{project}/{kind}`.
    Create { project: String, kind: Kind },
    /// `GET /v3/{project}/{kind}/{id}`.
    Show {
        project: String,
        kind: Kind,
        id: String,
    },
    /// `PUT /v3/{project}/{kind}/{id}`.
    Update {
        project: String,
        kind: Kind,
        id: String,
    },
    /// `DELETE /v3/{project}/{kind}/{id}`.
    Delete {
        project: String,
        kind: Kind,
        id: String,
    },
    /// `POST /v3/{project}/{kind}/{id}/action`.
    Action {
        project: String,
        kind: Kind,
        id: String,
    },
}

/// Whether a project id is one we can turn into an account name.
fn valid_project(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 128
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Routes a request. Unknown paths are 404, known paths with another
/// method 405.
pub fn route(method: &Method, path: &str) -> Result<Route> {
    let not_found = || Error::NotFound(format!("The resource could not be found: {path}"));
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
    let get = *method == Method::GET || *method == Method::HEAD;
    let only = |ok: bool, r: Route| {
        if ok {
            Ok(r)
        } else {
            Err(Error::MethodNotAllowed)
        }
    };
    match segs.as_slice() {
        [] | [""] => only(get, Route::Versions),
        ["healthcheck"] => only(get, Route::Healthcheck),
        ["metrics"] => only(*method == Method::GET, Route::Metrics),
        ["v3"] => only(get, Route::Version),
        ["v3", project, rest @ ..] => {
            if !valid_project(project) {
                return Err(not_found());
            }
            let project = project.to_string();
            let kind = match rest.first() {
                Some(&"volumes") => Kind::Volumes,
                Some(&"snapshots") => Kind::Snapshots,
                Some(&"attachments") => Kind::Attachments,
                _ => return Err(not_found()),
            };
            match &rest[1..] {
                [] => match *method {
                    Method::GET | Method::HEAD => Ok(Route::List {
                        project,
                        kind,
                        detail: false,
                    }),
                    Method::POST => Ok(Route::Create { project, kind }),
                    _ => Err(Error::MethodNotAllowed),
                },
                ["detail"] => only(
                    get,
                    Route::List {
                        project,
                        kind,
                        detail: true,
                    },
                ),
                [id] => {
                    let id = id.to_string();
                    match *method {
                        Method::GET | Method::HEAD => Ok(Route::Show { project, kind, id }),
                        Method::PUT => Ok(Route::Update { project, kind, id }),
                        Method::DELETE => Ok(Route::Delete { project, kind, id }),
                        _ => Err(Error::MethodNotAllowed),
                    }
                }
                [id, "action"] => only(
                    *method == Method::POST,
                    Route::Action {
                        project,
                        kind,
                        id: id.to_string(),
                    },
                ),
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(m: Method, p: &str) -> Result<Route> {
        route(&m, p)
    }

    #[test]
    fn cinder_paths() {
        let p = "efb86afc44684e969eab64b5d3e5a64c".to_string();
        assert_eq!(r(Method::GET, "/").unwrap(), Route::Versions);
        assert_eq!(r(Method::GET, "/v3/").unwrap(), Route::Version);
        assert_eq!(
            r(Method::POST, &format!("/v3/{p}/volumes")).unwrap(),
            Route::Create {
                project: p.clone(),
                kind: Kind::Volumes
            }
        );
        assert_eq!(
            r(Method::GET, &format!("/v3/{p}/volumes/detail")).unwrap(),
            Route::List {
                project: p.clone(),
                kind: Kind::Volumes,
                detail: true
            }
        );
        assert_eq!(
            r(Method::POST, "/v3/AUTH_test/volumes/abc/action").unwrap(),
            Route::Action {
                project: "AUTH_test".into(),
                kind: Kind::Volumes,
                id: "abc".into()
            }
        );
        assert_eq!(
            r(Method::DELETE, "/v3/AUTH_test/attachments/x").unwrap(),
            Route::Delete {
                project: "AUTH_test".into(),
                kind: Kind::Attachments,
                id: "x".into()
            }
        );
        assert!(matches!(
            r(Method::GET, "/v3/AUTH_test/snapshots").unwrap(),
            Route::List {
                kind: Kind::Snapshots,
                detail: false,
                ..
            }
        ));
    }

    #[test]
    fn errors() {
        assert!(matches!(
            r(Method::DELETE, "/"),
            Err(Error::MethodNotAllowed)
        ));
        assert!(matches!(
            r(Method::GET, "/v2/x/volumes"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            r(Method::GET, "/v3/a b/volumes"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            r(Method::GET, "/v3/p/backups"),
            Err(Error::NotFound(_))
        ));
        assert!(matches!(
            r(Method::PATCH, "/v3/p/volumes"),
            Err(Error::MethodNotAllowed)
        ));
        assert!(matches!(
            r(Method::GET, "/v3/p/volumes/x/action"),
            Err(Error::MethodNotAllowed)
        ));
        assert!(matches!(
            r(Method::GET, "/v3/p/volumes/x/y/z"),
            Err(Error::NotFound(_))
        ));
    }
}
