//! Swift's tempauth: users and groups from the config, `GET /auth/v1.0`
//! issuing random expiring tokens, and the authorize rules of
//! `swift/common/middleware/tempauth.py` (owner, reseller admin, service
//! prefixes with a required group, container ACLs, account ACLs).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode};
use rand::Rng;

use crate::auth::acl::{self, AccountAcl};
use crate::config::TempAuthConfig;
use crate::error::{Error, Result};
use swirl_common::Body;

/// One configured user.
#[derive(Debug, Clone)]
struct User {
    key: String,
    groups: Vec<String>,
    /// Storage URL template (`$HOST` is replaced by the request's scheme://host).
    url: String,
}

#[derive(Debug, Clone)]
struct Token {
    groups: String,
    expires: SystemTime,
}

#[derive(Default)]
struct Tokens {
    by_token: HashMap<String, Token>,
    by_user: HashMap<String, String>,
}

/// Who is asking: the group list of the token(s), empty for anonymous.
/// As in Swift, groups[0] is the account name and groups[1] `account:user`.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub groups: Vec<String>,
}

impl Identity {
    pub fn is_authenticated(&self) -> bool {
        !self.groups.is_empty()
    }
    fn has(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}

/// The outcome of an authorization check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Allowed; `owner` means full control (ACL headers visible and settable).
    Allow { owner: bool },
    /// Refused: 403 for a known user, 401 for anonymous.
    Deny,
}

/// What one authorization check looks at.
pub struct AuthzRequest<'a> {
    pub method: &'a Method,
    pub account: &'a str,
    pub container: Option<&'a str>,
    pub object: Option<&'a str>,
    /// The container ACL that applies (read ACL for GET/HEAD, write ACL otherwise).
    pub acl: Option<&'a str>,
    pub referer: Option<&'a str>,
}

/// The tempauth middleware's state.
pub struct TempAuth {
    prefixes: Vec<String>,
    require_group: HashMap<String, String>,
    users: HashMap<String, User>,
    token_life: Duration,
    tokens: Mutex<Tokens>,
}

fn with_underscore(p: &str) -> String {
    let p = p.trim();
    if p.is_empty() || p.ends_with('_') {
        p.to_string()
    } else {
        format!("{p}_")
    }
}

impl TempAuth {
    /// Builds the user table from the config (keys `user_<account>_<user>`).
    pub fn new(cfg: &TempAuthConfig) -> std::result::Result<Self, String> {
        let prefixes: Vec<String> = cfg
            .reseller_prefix
            .iter()
            .map(|p| with_underscore(p))
            .collect();
        let first = prefixes.first().cloned().unwrap_or_default();
        let mut users = HashMap::new();
        for (k, v) in &cfg.users {
            let rest = k
                .strip_prefix("user_")
                .ok_or_else(|| format!("tempauth user key {k:?} must start with user_"))?;
            let (account, user) = rest
                .split_once('_')
                .ok_or_else(|| format!("tempauth user key {k:?} must be user_<account>_<user>"))?;
            let mut values: Vec<&str> = v.split_whitespace().collect();
            if values.is_empty() {
                return Err(format!("tempauth user {k:?} has no key"));
            }
            let key = values.remove(0).to_string();
            let url = match values.last() {
                Some(l) if l.contains("://") || l.contains("$HOST") => {
                    let u = l.to_string();
                    values.pop();
                    u
                }
                _ => format!("$HOST/v1/{first}{account}"),
            };
            users.insert(
                format!("{account}:{user}"),
                User {
                    key,
                    groups: values.iter().map(|s| s.to_string()).collect(),
                    url,
                },
            );
        }
        Ok(TempAuth {
            require_group: cfg
                .require_group
                .iter()
                .map(|(p, g)| (with_underscore(p), g.clone()))
                .collect(),
            prefixes,
            users,
            token_life: Duration::from_secs(cfg.token_life.max(1)),
            tokens: Mutex::new(Tokens::default()),
        })
    }

    /// The reseller prefixes (with their `_`).
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// Is this token tempauth's to judge? (It starts with the first prefix,
    /// which a non-empty prefix makes definite.)
    pub fn owns_token(&self, token: &str) -> bool {
        self.prefixes
            .first()
            .is_some_and(|p| !p.is_empty() && token.starts_with(p.as_str()))
    }

    /// Swift's `_is_definitive_auth`: the account has one of the non-empty prefixes.
    pub fn is_definitive(&self, account: &str) -> bool {
        self.prefixes
            .iter()
            .any(|p| !p.is_empty() && account.starts_with(p.as_str()))
    }

    fn account_prefix(&self, account: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .find(|p| !p.is_empty() && account.starts_with(p.as_str()))
            .map(String::as_str)
            .or_else(|| {
                self.prefixes
                    .iter()
                    .find(|p| p.is_empty())
                    .map(String::as_str)
            })
    }

    fn user_groups(&self, account_user: &str, user: &User) -> String {
        let account = account_user.split(':').next().unwrap_or_default();
        let account_id = user.url.rsplit('/').next().unwrap_or_default().to_string();
        let mut groups = vec![account.to_string(), account_user.to_string()];
        groups.extend(user.groups.iter().cloned());
        if let Some(pos) = groups.iter().position(|g| g == ".admin") {
            groups.remove(pos);
            for p in self.prefixes.iter().filter(|p| !p.is_empty()) {
                groups.push(format!("{p}{account}"));
            }
            if !groups.contains(&account_id) {
                groups.push(account_id);
            }
        }
        groups.join(",")
    }

    fn lookup(&self, token: &str) -> Option<String> {
        let first = self.prefixes.first()?;
        token.strip_prefix(&format!("{first}tk"))?;
        let tokens = self.tokens.lock().ok()?;
        let t = tokens.by_token.get(token)?;
        (t.expires > SystemTime::now()).then(|| t.groups.clone())
    }

    /// Reads X-Auth-Token / X-Storage-Token (+ X-Service-Token). A token of our
    /// prefix that is unknown or expired is a 401 at once, as Swift does.
    pub fn identify(&self, headers: &HeaderMap, realm: &str) -> Result<Identity> {
        let get = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let token = get("x-auth-token").or_else(|| get("x-storage-token"));
        let first = self.prefixes.first().cloned().unwrap_or_default();
        let Some(token) = token.filter(|t| t.starts_with(&first)) else {
            return Ok(Identity::default());
        };
        let Some(mut groups) = self.lookup(&token) else {
            return Err(Error::Unauthorized(realm.to_string()));
        };
        if let Some(service) = get("x-service-token").and_then(|t| self.lookup(&t)) {
            groups.push(',');
            groups.push_str(&service);
        }
        Ok(Identity {
            groups: groups.split(',').map(str::to_string).collect(),
        })
    }

    /// Tempauth's `authorize`.
    pub fn authorize(
        &self,
        who: &Identity,
        req: &AuthzRequest<'_>,
        account_acl: Option<&AccountAcl>,
    ) -> Decision {
        let account = req.account;
        let Some(prefix) = self.account_prefix(account) else {
            return Decision::Deny;
        };
        let dot_account = account[prefix.len()..].starts_with('.');
        let is_prefix_only = self.prefixes.iter().any(|p| p == account);
        if who.has(".reseller_admin") && !is_prefix_only && !dot_account {
            return Decision::Allow { owner: true };
        }
        let read = *req.method == Method::GET || *req.method == Method::HEAD;
        if who.has(".reseller_reader") && !is_prefix_only && !dot_account && read {
            return Decision::Allow { owner: false };
        }
        let account_write = *req.method == Method::DELETE || *req.method == Method::PUT;
        if who.has(account) && (!account_write || req.container.is_some()) {
            match self.require_group.get(prefix) {
                Some(g) if who.has(g) => return Decision::Allow { owner: true },
                Some(_) => {}
                None => return Decision::Allow { owner: true },
            }
        }
        if *req.method == Method::OPTIONS {
            return Decision::Allow { owner: false };
        }
        let (referrers, groups) = acl::parse_acl(req.acl);
        if acl::referrer_allowed(req.referer, &referrers)
            && (req.object.is_some() || groups.iter().any(|g| g == ".rlistings"))
        {
            return Decision::Allow { owner: false };
        }
        if who.groups.iter().any(|g| groups.contains(g)) {
            return Decision::Allow { owner: false };
        }
        if let Some(a) = account_acl {
            let any = |list: &[String]| who.groups.iter().any(|g| list.contains(g));
            if any(&a.admin) {
                return Decision::Allow { owner: true };
            }
            if any(&a.read_write) && (req.container.is_some() || read) {
                return Decision::Allow { owner: false };
            }
            if any(&a.read_only) && read {
                return Decision::Allow { owner: false };
            }
        }
        Decision::Deny
    }

    /// `GET /auth/v1.0`: checks the user's key and returns a token and the storage URL.
    pub fn handle_auth(&self, headers: &HeaderMap, host_url: &str) -> Result<Response<Body>> {
        let get = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let user = get("x-auth-user").or_else(|| get("x-storage-user"));
        let key = get("x-auth-key").or_else(|| get("x-storage-pass"));
        let (Some(user), Some(key)) = (user, key) else {
            return Err(Error::Unauthorized("unknown".into()));
        };
        let realm = user.split(':').next().unwrap_or("unknown").to_string();
        let Some(u) = self.users.get(&user).filter(|_| user.contains(':')) else {
            return Err(Error::Unauthorized(realm));
        };
        if !constant_time_eq(u.key.as_bytes(), key.as_bytes()) {
            return Err(Error::Unauthorized(realm));
        }
        let groups = self.user_groups(&user, u);
        let now = SystemTime::now();
        let mut tokens = self
            .tokens
            .lock()
            .map_err(|_| Error::Internal("token table poisoned".into()))?;
        tokens.by_token.retain(|_, t| t.expires > now);
        let existing = tokens
            .by_user
            .get(&user)
            .and_then(|t| tokens.by_token.get(t).map(|e| (t.clone(), e.clone())))
            .filter(|(_, e)| e.groups == groups);
        let (token, expires) = match existing {
            Some((t, e)) => (t, e.expires),
            None => {
                let r: u128 = rand::rng().random();
                let first = self.prefixes.first().cloned().unwrap_or_default();
                let t = format!("{first}tk{r:032x}");
                let expires = now + self.token_life;
                tokens.by_token.insert(t.clone(), Token { groups, expires });
                tokens.by_user.insert(user.clone(), t.clone());
                (t, expires)
            }
        };
        drop(tokens);
        let url = u.url.replace("$HOST", host_url);
        let left = expires
            .duration_since(now)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let body = serde_json::json!({"storage": {"default": "local", "local": url}}).to_string();
        let mut resp = Response::new(swirl_common::body::full(body.clone()));
        *resp.status_mut() = StatusCode::OK;
        let h = resp.headers_mut();
        let hv =
            |s: &str| HeaderValue::from_str(s).map_err(|_| Error::Internal("bad header".into()));
        h.insert("x-auth-token", hv(&token)?);
        h.insert("x-storage-token", hv(&token)?);
        h.insert("x-auth-token-expires", HeaderValue::from(left));
        h.insert("x-storage-url", hv(&url)?);
        h.insert(
            "content-type",
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        h.insert("content-length", HeaderValue::from(body.len()));
        Ok(resp)
    }
}

/// Key comparison that does not leak the matching prefix length through timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> TempAuth {
        let mut cfg = TempAuthConfig {
            reseller_prefix: vec!["AUTH".into(), "SERVICE".into()],
            ..Default::default()
        };
        cfg.require_group.insert("SERVICE".into(), "service".into());
        for (k, v) in [
            ("user_test_tester", "testing .admin"),
            ("user_test_tester3", "testing3"),
            ("user_test5_tester5", "testing5 service"),
            ("user_admin_admin", "admin .admin .reseller_admin"),
        ] {
            cfg.users.insert(k.into(), v.into());
        }
        TempAuth::new(&cfg).unwrap()
    }

    fn login(a: &TempAuth, user: &str, key: &str) -> Result<String> {
        let mut h = HeaderMap::new();
        h.insert("x-auth-user", HeaderValue::from_str(user).unwrap());
        h.insert("x-auth-key", HeaderValue::from_str(key).unwrap());
        let r = a.handle_auth(&h, "http://h:1")?;
        assert_eq!(
            r.headers()["x-storage-url"],
            "http://h:1/v1/AUTH_test"
                .replace("test", user.split(':').next().unwrap())
                .as_str()
        );
        Ok(r.headers()["x-auth-token"].to_str().unwrap().to_string())
    }

    fn ident(a: &TempAuth, token: &str) -> Identity {
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", HeaderValue::from_str(token).unwrap());
        a.identify(&h, "r").unwrap()
    }

    fn req<'a>(
        m: &'a Method,
        account: &'a str,
        c: Option<&'a str>,
        acl: Option<&'a str>,
    ) -> AuthzRequest<'a> {
        AuthzRequest {
            method: m,
            account,
            container: c,
            object: c.map(|_| "o"),
            acl,
            referer: None,
        }
    }

    #[test]
    fn tokens_and_owner() {
        let a = auth();
        assert!(login(&a, "test:tester", "bad").is_err());
        assert!(login(&a, "nobody:x", "x").is_err());
        let t = login(&a, "test:tester", "testing").unwrap();
        assert!(t.starts_with("AUTH_tk") && t.len() == 7 + 32);
        assert_eq!(
            login(&a, "test:tester", "testing").unwrap(),
            t,
            "token reused while valid"
        );
        let who = ident(&a, &t);
        assert_eq!(
            who.groups,
            vec!["test", "test:tester", "AUTH_test", "SERVICE_test"]
        );
        let get = Method::GET;
        assert_eq!(
            a.authorize(&who, &req(&get, "AUTH_test", None, None), None),
            Decision::Allow { owner: true }
        );
        assert_eq!(
            a.authorize(&who, &req(&Method::PUT, "AUTH_test", None, None), None),
            Decision::Deny
        );
        assert_eq!(
            a.authorize(&who, &req(&get, "AUTH_other", None, None), None),
            Decision::Deny
        );
        // SERVICE_ needs the service group too
        assert_eq!(
            a.authorize(&who, &req(&get, "SERVICE_test", None, None), None),
            Decision::Deny
        );
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", HeaderValue::from_static("AUTH_tkbogus"));
        assert!(a.identify(&h, "r").is_err());
    }

    #[test]
    fn acls() {
        let a = auth();
        let t3 = login(&a, "test:tester3", "testing3").unwrap();
        let who = ident(&a, &t3);
        let get = Method::GET;
        assert_eq!(
            a.authorize(&who, &req(&get, "AUTH_test", Some("c"), None), None),
            Decision::Deny
        );
        assert_eq!(
            a.authorize(
                &who,
                &req(&get, "AUTH_test", Some("c"), Some("test:tester3")),
                None
            ),
            Decision::Allow { owner: false }
        );
        let anon = Identity::default();
        assert_eq!(
            a.authorize(
                &anon,
                &req(&get, "AUTH_test", Some("c"), Some(".r:*")),
                None
            ),
            Decision::Allow { owner: false }
        );
        let listing = AuthzRequest {
            object: None,
            ..req(&get, "AUTH_test", Some("c"), Some(".r:*"))
        };
        assert_eq!(a.authorize(&anon, &listing, None), Decision::Deny);
        let acl = AccountAcl {
            read_only: vec!["test:tester3".into()],
            ..Default::default()
        };
        assert_eq!(
            a.authorize(&who, &req(&get, "AUTH_test", None, None), Some(&acl)),
            Decision::Allow { owner: false }
        );
        assert_eq!(
            a.authorize(
                &who,
                &req(&Method::POST, "AUTH_test", None, None),
                Some(&acl)
            ),
            Decision::Deny
        );
        let admin = ident(&a, &login(&a, "admin:admin", "admin").unwrap());
        assert_eq!(
            a.authorize(&admin, &req(&get, "AUTH_test", None, None), None),
            Decision::Allow { owner: true }
        );
        // A user token plus a service token carrying the required group.
        let t1 = login(&a, "test:tester", "testing").unwrap();
        let t5 = login(&a, "test5:tester5", "testing5").unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-auth-token", HeaderValue::from_str(&t1).unwrap());
        h.insert("x-service-token", HeaderValue::from_str(&t5).unwrap());
        let both = a.identify(&h, "r").unwrap();
        assert_eq!(
            a.authorize(&both, &req(&get, "SERVICE_test", None, None), None),
            Decision::Allow { owner: true }
        );
        assert_eq!(
            a.authorize(
                &ident(&a, &t5),
                &req(&get, "SERVICE_test", None, None),
                None
            ),
            Decision::Deny
        );
    }
}
