//! A token Keystone validated (`GET /v3/auth/tokens`): who it names, the
//! project it is scoped to, its roles and when it expires. These are the
//! fields keystonemiddleware passes on as X-User-Id, X-Project-Id,
//! X-Roles, X-*-Domain-Id and that keystoneauth reads. Pure.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;

/// An id and a name (of a user, project or domain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    pub name: String,
}

/// A validated token's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub user: Named,
    pub user_domain: Named,
    /// None for an unscoped, domain- or system-scoped token.
    pub project: Option<Named>,
    pub project_domain: Option<Named>,
    /// Role names as Keystone spells them.
    pub roles: Vec<String>,
    pub expires_at: SystemTime,
}

impl Token {
    /// Has the token expired at `now`? (keystonemiddleware: 0 s of validity left.)
    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires_at <= now
    }
}

#[derive(Deserialize)]
struct Body {
    token: Raw,
}

#[derive(Deserialize)]
struct RawNamed {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    domain: Option<RawDomain>,
}

#[derive(Deserialize)]
struct RawDomain {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct RawRole {
    name: String,
}

#[derive(Deserialize)]
struct Raw {
    expires_at: String,
    user: RawNamed,
    #[serde(default)]
    project: Option<RawNamed>,
    #[serde(default)]
    roles: Vec<RawRole>,
}

fn domain(d: Option<RawDomain>) -> Named {
    d.map(|d| Named {
        id: d.id,
        name: d.name,
    })
    .unwrap_or_default()
}

/// Reads a v3 token body (`{"token": {...}}`); None when it is not one.
pub fn parse(body: &[u8]) -> Option<Token> {
    let b: Body = serde_json::from_slice(body).ok()?;
    let t = b.token;
    let expires_at = parse_time(&t.expires_at)?;
    let (project, project_domain) = match t.project {
        Some(p) => (
            Some(Named {
                id: p.id,
                name: p.name,
            }),
            Some(domain(p.domain)),
        ),
        None => (None, None),
    };
    Some(Token {
        user_domain: domain(t.user.domain),
        user: Named {
            id: t.user.id,
            name: t.user.name,
        },
        project,
        project_domain,
        roles: t.roles.into_iter().map(|r| r.name).collect(),
        expires_at,
    })
}

/// Keystone's `expires_at`: `YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+00:00)`, UTC.
pub fn parse_time(v: &str) -> Option<SystemTime> {
    let v = v
        .strip_suffix('Z')
        .or_else(|| v.strip_suffix("+00:00"))
        .unwrap_or(v);
    let (date, time) = v.split_once('T')?;
    let mut d = date.split('-');
    let (y, mo, day) = (d.next()?, d.next()?, d.next()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let (h, mi, s) = (t.next()?, t.next()?, t.next()?);
    let num = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (y, mo, day) = (num(y)?, num(mo)?, num(day)?);
    let (h, mi, s) = (num(h)?, num(mi)?, num(s)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    if !frac.is_empty() && !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let secs = (era * 146_097 + doe - 719_468) * 86_400 + h * 3600 + mi * 60 + s;
    let nanos: u32 = format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(
            parse_time("1970-01-02T00:00:01Z"),
            Some(UNIX_EPOCH + Duration::from_secs(86_401))
        );
        assert_eq!(
            parse_time("2026-12-05T17:04:05.500000Z"),
            Some(UNIX_EPOCH + Duration::from_millis(1_796_490_245_500))
        );
        assert_eq!(
            parse_time("2026-12-05T17:04:05+00:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_490_245))
        );
        assert_eq!(parse_time("2026-13-05T17:04:05Z"), None);
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn v3_body() {
        let body = br#"{"token": {"methods": ["password"], "user": {"domain": {"id": "default", "name": "Default"},
            "id": "u1", "name": "alice", "password_expires_at": null}, "audit_ids": ["x"],
            "expires_at": "2030-01-01T00:00:00.000000Z", "issued_at": "2029-12-31T23:00:00.000000Z",
            "project": {"domain": {"id": "default", "name": "Default"}, "id": "p1", "name": "proj"},
            "is_domain": false, "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "SwiftOperator"}]}}"#;
        let t = parse(body).unwrap();
        assert_eq!(t.user.id, "u1");
        assert_eq!(t.user.name, "alice");
        assert_eq!(t.user_domain.id, "default");
        assert_eq!(t.project.as_ref().unwrap().id, "p1");
        assert_eq!(t.project_domain.as_ref().unwrap().name, "Default");
        assert_eq!(t.roles, vec!["member", "SwiftOperator"]);
        assert!(!t.expired(UNIX_EPOCH));
        assert!(parse(b"{\"token\": {}}").is_none());
        let unscoped =
            br#"{"token": {"user": {"id": "u", "name": "n", "domain": {"id": "d", "name": "D"}},
            "expires_at": "2030-01-01T00:00:00Z"}}"#;
        assert!(parse(unscoped).unwrap().project.is_none());
    }
}
