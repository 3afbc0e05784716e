//! keystoneauth's authorization rules (`swift/common/middleware/keystoneauth.py`):
//! accounts `<prefix><project id>`, operator roles own their project's
//! account (with a service token's role too where `service_roles` says so),
//! the reseller admin role owns every account, container ACLs name
//! `project:user` by id (or by name, in the default domain only) or a
//! role, and referrer ACLs serve anonymous readers. Pure: the account's
//! stored project domain comes in as an argument.

use std::collections::HashMap;
use std::sync::Arc;

use http::Method;

use super::config::KeystoneAuthConfig;
use super::token::Token;
use crate::auth::acl;
use crate::auth::tempauth::{AuthzRequest, Decision};

/// The account sysmeta holding the project's domain id, set when the
/// account is created or first written by its own project.
pub const DOMAIN_SYSMETA: &str = "x-account-sysmeta-project-domain-id";
/// The same value shown to clients.
pub const DOMAIN_HEADER: &str = "x-account-project-domain-id";
/// Stored when the domain cannot be known (Swift's `UNKNOWN_ID`).
pub const UNKNOWN_ID: &str = "_unknown";

/// A confirmed Keystone identity: the user token and, if one was sent
/// and valid, the service token (keystonemiddleware's X-Identity-Status
/// and X-Service-Identity-Status both Confirmed).
#[derive(Debug, Clone)]
pub struct KsIdentity {
    pub user: Arc<Token>,
    pub service: Option<Arc<Token>>,
}

impl KsIdentity {
    fn project_id(&self) -> Option<&str> {
        self.user.project.as_ref().map(|p| p.id.as_str())
    }
    fn roles(&self) -> Vec<String> {
        self.user.roles.iter().map(|r| r.to_lowercase()).collect()
    }
    fn service_roles(&self) -> Vec<String> {
        self.service
            .iter()
            .flat_map(|s| s.roles.iter().map(|r| r.to_lowercase()))
            .collect()
    }
}

/// The role lists of one reseller prefix (lower case).
#[derive(Debug, Clone, Default)]
struct PrefixRules {
    operator_roles: Vec<String>,
    service_roles: Vec<String>,
    project_reader_roles: Vec<String>,
}

/// What is stored of the account being accessed.
#[derive(Debug, Clone, Default)]
pub struct AccountDomain {
    pub exists: bool,
    /// Its project domain sysmeta, if any.
    pub domain_id: Option<String>,
}

/// keystoneauth's configuration, read once.
#[derive(Debug, Clone)]
pub struct Rules {
    prefixes: Vec<String>,
    per_prefix: HashMap<String, PrefixRules>,
    reseller_admin_role: String,
    system_reader_roles: Vec<String>,
    default_domain_id: String,
    allow_names_in_acls: bool,
    pub allow_overrides: bool,
}

fn lower(v: Vec<String>) -> Vec<String> {
    v.into_iter().map(|r| r.to_lowercase()).collect()
}

impl Rules {
    pub fn new(cfg: &KeystoneAuthConfig) -> Self {
        if cfg.is_admin {
            tracing::warn!(
                "The 'is_admin' option for keystoneauth is no longer supported: ignored"
            );
        }
        let prefixes = cfg.prefixes();
        let mut per_prefix = HashMap::new();
        for p in &prefixes {
            per_prefix.insert(
                p.clone(),
                PrefixRules {
                    operator_roles: lower(cfg.operator_roles.items()),
                    service_roles: lower(cfg.service_roles.items()),
                    project_reader_roles: lower(cfg.project_reader_roles.items()),
                },
            );
        }
        for (key, value) in &cfg.per_prefix {
            if let Some((p, opt)) = cfg.split_key(key) {
                if let Some(r) = per_prefix.get_mut(&p) {
                    let v = lower(value.items());
                    // An empty value keeps the general one, as Swift's `if value:`.
                    if v.is_empty() {
                        continue;
                    }
                    match opt {
                        "operator_roles" => r.operator_roles = v,
                        "service_roles" => r.service_roles = v,
                        _ => r.project_reader_roles = v,
                    }
                }
            }
        }
        Rules {
            prefixes,
            per_prefix,
            reseller_admin_role: cfg.reseller_admin_role.to_lowercase(),
            system_reader_roles: lower(cfg.system_reader_roles.items()),
            default_domain_id: cfg.default_domain_id.clone(),
            allow_names_in_acls: cfg.allow_names_in_acls,
            allow_overrides: cfg.allow_overrides,
        }
    }

    /// The reseller prefixes, with their `_`.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// The prefix an account falls under: a non-empty one first.
    pub fn account_prefix(&self, account: &str) -> Option<&str> {
        self.prefixes
            .iter()
            .find(|p| !p.is_empty() && account.starts_with(p.as_str()))
            .or_else(|| self.prefixes.iter().find(|p| p.is_empty()))
            .map(String::as_str)
    }

    fn account_matches_tenant(&self, account: &str, tenant: Option<&str>) -> bool {
        let Some(t) = tenant else {
            return false;
        };
        self.prefixes.iter().any(|p| {
            account.len() == p.len() + t.len()
                && account.starts_with(p.as_str())
                && account.ends_with(t)
        })
    }

    /// Does `authorize` need the account's stored domain? (Only to allow
    /// names in a cross-project ACL.)
    pub fn needs_account_domain(&self, id: &KsIdentity, account: &str, acl: Option<&str>) -> bool {
        self.allow_names_in_acls
            && !acl::parse_acl(acl).1.is_empty()
            && !self.account_matches_tenant(account, id.project_id())
    }

    /// Swift's `_set_project_domain_id`: the domain id to store in the
    /// account's sysmeta with this request, if any. Only account PUT/POST
    /// and container PUT (which may create the account) store one.
    pub fn domain_to_store(
        &self,
        id: &KsIdentity,
        req: &AuthzRequest<'_>,
        stored: &AccountDomain,
    ) -> Option<String> {
        let m = req.method;
        let write = *m == Method::PUT || *m == Method::POST;
        if !write || req.object.is_some() || (req.container.is_some() && *m != Method::PUT) {
            return None;
        }
        let has_id = self.account_matches_tenant(req.account, id.project_id());
        let req_id = if has_id {
            id.user.project_domain.as_ref().map(|d| d.id.clone())
        } else {
            None
        };
        if !stored.exists {
            return if has_id {
                req_id
            } else {
                Some(UNKNOWN_ID.to_string())
            };
        }
        match stored.domain_id.as_deref() {
            None if req_id.as_deref() == Some(self.default_domain_id.as_str()) => req_id,
            Some(UNKNOWN_ID) if has_id => Some(req_id.unwrap_or_default()),
            Some(s) if has_id && req_id.as_deref() != Some(s) => {
                tracing::warn!(
                    "Inconsistent project domain id: {req_id:?} in token vs {s} in account metadata."
                );
                None
            }
            _ => None,
        }
    }

    /// Swift's `_is_name_allowed_in_acl`.
    fn names_allowed(
        &self,
        id: &KsIdentity,
        account: &str,
        stored: Option<&AccountDomain>,
    ) -> bool {
        if !self.allow_names_in_acls {
            return false;
        }
        let other = |d: &str| !d.is_empty() && d != self.default_domain_id;
        if other(&id.user.user_domain.id) {
            return false;
        }
        if id
            .user
            .project_domain
            .as_ref()
            .is_some_and(|d| other(&d.id))
        {
            return false;
        }
        if self.account_matches_tenant(account, id.project_id()) {
            return true;
        }
        stored.is_some_and(|s| {
            s.exists
                && s.domain_id
                    .as_deref()
                    .is_none_or(|d| d == self.default_domain_id)
        })
    }

    /// keystoneauth's `authorize` for a confirmed identity.
    /// Whether `id` holds the reseller admin role (Swift's keystoneauth
    /// then sets `reseller_request`, which account_quotas trusts).
    pub fn is_reseller_admin(&self, id: &KsIdentity) -> bool {
        id.roles().contains(&self.reseller_admin_role)
    }

    pub fn authorize(
        &self,
        id: &KsIdentity,
        req: &AuthzRequest<'_>,
        stored: Option<&AccountDomain>,
    ) -> Decision {
        let (referrers, groups) = acl::parse_acl(req.acl);
        if *req.method == Method::OPTIONS {
            return Decision::Allow { owner: false };
        }
        let roles = id.roles();
        if roles.contains(&self.reseller_admin_role) {
            return Decision::Allow { owner: true };
        }
        let read = *req.method == Method::GET || *req.method == Method::HEAD;
        if read && roles.iter().any(|r| self.system_reader_roles.contains(r)) {
            return Decision::Allow { owner: false };
        }
        if req.container.is_none() && req.object.is_none() && *req.method == Method::DELETE {
            // Not even an operator deletes their own account.
            return Decision::Deny;
        }
        let project = id.user.project.as_ref();
        if !groups.is_empty() {
            let names = self.names_allowed(id, req.account, stored);
            let mut tenants = vec![project.map(|p| p.id.as_str()).unwrap_or("None"), "*"];
            let mut users = vec![id.user.user.id.as_str(), "*"];
            if names {
                tenants.push(project.map(|p| p.name.as_str()).unwrap_or("None"));
                users.push(id.user.user.name.as_str());
            }
            let hit = tenants
                .iter()
                .any(|t| users.iter().any(|u| groups.contains(&format!("{t}:{u}"))));
            if hit {
                return Decision::Allow { owner: false };
            }
        }
        let unconfirmed = unconfirmed(req, &referrers, &groups);
        if unconfirmed == Some(true) {
            return Decision::Allow { owner: false };
        }
        if !self.account_matches_tenant(req.account, id.project_id()) {
            return Decision::Deny;
        }
        let Some(rules) = self
            .account_prefix(req.account)
            .and_then(|p| self.per_prefix.get(p))
        else {
            return Decision::Deny;
        };
        let operator = rules.operator_roles.iter().any(|r| roles.contains(r));
        let service_roles = id.service_roles();
        let service = rules
            .service_roles
            .iter()
            .any(|r| service_roles.contains(r));
        if operator && (rules.service_roles.is_empty() || service) {
            return Decision::Allow { owner: true };
        }
        if read && rules.project_reader_roles.iter().any(|r| roles.contains(r)) {
            return Decision::Allow { owner: false };
        }
        if unconfirmed.is_some() {
            return Decision::Deny;
        }
        let lowered: Vec<String> = groups.iter().map(|g| g.to_lowercase()).collect();
        if roles.iter().any(|r| lowered.contains(r)) {
            return Decision::Allow { owner: false };
        }
        Decision::Deny
    }

    /// keystoneauth's `authorize_anonymous`.
    pub fn authorize_anonymous(&self, req: &AuthzRequest<'_>) -> Decision {
        if *req.method == Method::OPTIONS {
            return Decision::Allow { owner: false };
        }
        if self.account_prefix(req.account).is_none() {
            return Decision::Deny;
        }
        let (referrers, groups) = acl::parse_acl(req.acl);
        match unconfirmed(req, &referrers, &groups) {
            Some(true) => Decision::Allow { owner: false },
            _ => Decision::Deny,
        }
    }
}

/// Swift's `_authorize_unconfirmed_identity`: a referrer ACL lets
/// anyone read objects, and listings with `.rlistings`; None when no
/// referrer matched. (swirl has no container sync, its other case.)
fn unconfirmed(req: &AuthzRequest<'_>, referrers: &[String], groups: &[String]) -> Option<bool> {
    if acl::referrer_allowed(req.referer, referrers) {
        return Some(req.object.is_some() || groups.iter().any(|g| g == ".rlistings"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::keystone::token::Named;
    use std::time::{Duration, SystemTime};

    fn named(id: &str, name: &str) -> Named {
        Named {
            id: id.into(),
            name: name.into(),
        }
    }

    fn ident(project: &str, user: &str, roles: &[&str], domain: &str) -> KsIdentity {
        KsIdentity {
            user: Arc::new(Token {
                user: named(&format!("{user}_id"), user),
                user_domain: named(domain, domain),
                project: Some(named(&format!("{project}_id"), project)),
                project_domain: Some(named(domain, domain)),
                roles: roles.iter().map(|r| r.to_string()).collect(),
                expires_at: SystemTime::now() + Duration::from_secs(60),
            }),
            service: None,
        }
    }

    fn rules(extra: &str) -> Rules {
        let cfg: KeystoneAuthConfig = toml::from_str(extra).unwrap();
        cfg.validate().unwrap();
        Rules::new(&cfg)
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

    const OWNER: Decision = Decision::Allow { owner: true };
    const READER: Decision = Decision::Allow { owner: false };

    #[test]
    fn operators_and_reseller_admin() {
        let r = rules("");
        let get = Method::GET;
        let op = ident("p", "alice", &["SwiftOperator"], "default");
        assert_eq!(
            r.authorize(&op, &req(&get, "AUTH_p_id", None, None), None),
            OWNER
        );
        assert_eq!(
            r.authorize(&op, &req(&get, "AUTH_q_id", None, None), None),
            Decision::Deny
        );
        assert_eq!(
            r.authorize(&op, &req(&Method::DELETE, "AUTH_p_id", None, None), None),
            Decision::Deny
        );
        let member = ident("p", "bob", &["member"], "default");
        assert_eq!(
            r.authorize(&member, &req(&get, "AUTH_p_id", Some("c"), None), None),
            Decision::Deny
        );
        let admin = ident("x", "root", &["ResellerAdmin"], "default");
        assert_eq!(
            r.authorize(&admin, &req(&get, "AUTH_q_id", None, None), None),
            OWNER
        );
        assert_eq!(
            r.authorize_anonymous(&req(&get, "AUTH_p_id", Some("c"), None)),
            Decision::Deny
        );
        assert_eq!(
            r.authorize_anonymous(&req(&get, "AUTH_p_id", Some("c"), Some(".r:*"))),
            READER
        );
        let listing = AuthzRequest {
            object: None,
            ..req(&get, "AUTH_p_id", Some("c"), Some(".r:*"))
        };
        assert_eq!(r.authorize_anonymous(&listing), Decision::Deny);
        assert_eq!(
            r.authorize_anonymous(&req(&get, "OTHER_p_id", Some("c"), Some(".r:*"))),
            Decision::Deny
        );
    }

    #[test]
    fn acls_by_id_name_and_role() {
        let r = rules("");
        let get = Method::GET;
        let bob = ident("q", "bob", &["member"], "default");
        let a = "AUTH_p_id";
        for acl in [
            "q_id:bob_id",
            "q:bob",
            "*:bob_id",
            "q_id:*",
            "*:*",
            "member",
        ] {
            // names need the account's domain: the default one here
            let stored = AccountDomain {
                exists: true,
                domain_id: Some("default".into()),
            };
            assert_eq!(
                r.authorize(&bob, &req(&get, a, Some("c"), Some(acl)), Some(&stored)),
                if acl == "member" {
                    Decision::Deny
                } else {
                    READER
                },
                "{acl}"
            );
        }
        // A role in the ACL counts only in the caller's own project.
        let own = ident("p", "carol", &["member"], "default");
        assert_eq!(
            r.authorize(&own, &req(&get, a, Some("c"), Some("member")), None),
            READER
        );
        // Names from another domain, or for an account of another domain, do not count.
        let elsewhere = ident("q", "bob", &["member"], "d2");
        let stored = AccountDomain {
            exists: true,
            domain_id: Some("default".into()),
        };
        assert_eq!(
            r.authorize(
                &elsewhere,
                &req(&get, a, Some("c"), Some("q:bob")),
                Some(&stored)
            ),
            Decision::Deny
        );
        assert_eq!(
            r.authorize(
                &elsewhere,
                &req(&get, a, Some("c"), Some("q_id:bob_id")),
                Some(&stored)
            ),
            READER
        );
        let d2 = AccountDomain {
            exists: true,
            domain_id: Some("d2".into()),
        };
        assert_eq!(
            r.authorize(&bob, &req(&get, a, Some("c"), Some("q:bob")), Some(&d2)),
            Decision::Deny
        );
        let legacy = AccountDomain {
            exists: true,
            domain_id: None,
        };
        assert_eq!(
            r.authorize(&bob, &req(&get, a, Some("c"), Some("q:bob")), Some(&legacy)),
            READER
        );
        let off = rules("allow_names_in_acls = false");
        assert_eq!(
            off.authorize(&bob, &req(&get, a, Some("c"), Some("q:bob")), Some(&legacy)),
            Decision::Deny
        );
    }

    #[test]
    fn service_tokens() {
        let r = rules(
            "reseller_prefix = [\"AUTH\", \"SERVICE\"]\nSERVICE_service_roles = \"service\"\n",
        );
        let get = Method::GET;
        let mut op = ident("p", "alice", &["admin"], "default");
        assert_eq!(
            r.authorize(&op, &req(&get, "AUTH_p_id", None, None), None),
            OWNER
        );
        assert_eq!(
            r.authorize(&op, &req(&get, "SERVICE_p_id", None, None), None),
            Decision::Deny
        );
        op.service = Some(ident("svc", "glance", &["service"], "default").user);
        assert_eq!(
            r.authorize(&op, &req(&get, "SERVICE_p_id", None, None), None),
            OWNER
        );
        op.service = Some(ident("svc", "glance", &["member"], "default").user);
        assert_eq!(
            r.authorize(&op, &req(&get, "SERVICE_p_id", None, None), None),
            Decision::Deny
        );
    }

    #[test]
    fn domain_sysmeta() {
        let r = rules("");
        let put = Method::PUT;
        let op = ident("p", "alice", &["admin"], "default");
        let none = AccountDomain::default();
        assert_eq!(
            r.domain_to_store(&op, &req(&put, "AUTH_p_id", None, None), &none)
                .as_deref(),
            Some("default")
        );
        let cput = AuthzRequest {
            object: None,
            ..req(&put, "AUTH_p_id", Some("c"), None)
        };
        assert_eq!(
            r.domain_to_store(&op, &cput, &none).as_deref(),
            Some("default")
        );
        assert_eq!(
            r.domain_to_store(&op, &req(&put, "AUTH_q_id", None, None), &none)
                .as_deref(),
            Some(UNKNOWN_ID)
        );
        assert_eq!(
            r.domain_to_store(&op, &req(&put, "AUTH_p_id", Some("c"), None), &none),
            None,
            "object PUT"
        );
        let unknown = AccountDomain {
            exists: true,
            domain_id: Some(UNKNOWN_ID.into()),
        };
        assert_eq!(
            r.domain_to_store(&op, &req(&Method::POST, "AUTH_p_id", None, None), &unknown)
                .as_deref(),
            Some("default")
        );
        let known = AccountDomain {
            exists: true,
            domain_id: Some("default".into()),
        };
        assert_eq!(
            r.domain_to_store(&op, &req(&Method::POST, "AUTH_p_id", None, None), &known),
            None
        );
    }
}
