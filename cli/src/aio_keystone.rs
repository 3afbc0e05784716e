//! `swirl aio --keystone-url URL --keystone-password PW [--keystone-user U]
//! [--keystone-project P] [--keystone-domain D]`: the aio's proxy
//! authenticates with Keystone v3 too (Swift's `authtoken keystoneauth`
//! before tempauth). Keystone's projects own the accounts `AUTH_<project
//! id>`, and `SERVICE_<project id>` with a service token holding the
//! `service` role as well (Swift's documented pair of prefixes); tempauth's
//! users move to the `TEMPAUTH_` prefix for that run. The flags change
//! this start only: the files in DIR/etc stay tempauth's, so `swirl aio`
//! without them is unchanged.

use swirl_proxy::auth::keystone::config::{AuthTokenConfig, KeystoneAuthConfig, StrList};

/// The Keystone flags of `swirl aio`.
#[derive(Debug, Clone, Default)]
pub struct KeystoneFlags {
    pub url: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub project: Option<String>,
    pub domain: Option<String>,
}

/// tempauth's prefix while Keystone holds AUTH_ and SERVICE_.
pub const TEMPAUTH_PREFIX: &str = "TEMPAUTH";

impl KeystoneFlags {
    /// Takes `--keystone-*` flags; false for any other flag.
    pub fn take(
        &mut self,
        name: &str,
        value: &mut dyn FnMut() -> Result<String, String>,
    ) -> Result<bool, String> {
        let slot = match name {
            "--keystone-url" => &mut self.url,
            "--keystone-user" => &mut self.user,
            "--keystone-password" => &mut self.password,
            "--keystone-project" => &mut self.project,
            "--keystone-domain" => &mut self.domain,
            _ => return Ok(false),
        };
        *slot = Some(value()?);
        Ok(true)
    }

    /// Points the proxy and the volume gateway (its sign-in and image
    /// account) at Keystone.
    pub fn apply(
        &self,
        proxy: &mut swirl_proxy::Config,
        vol: &mut swirl_volume::Config,
    ) -> Result<(), String> {
        let Some(url) = &self.url else {
            if self.user.is_some()
                || self.password.is_some()
                || self.project.is_some()
                || self.domain.is_some()
            {
                return Err("--keystone-* flags need --keystone-url".into());
            }
            return Ok(());
        };
        let password = self
            .password
            .clone()
            .ok_or("--keystone-url needs --keystone-password (the proxy's service user's)")?;
        let domain = self.domain.clone().unwrap_or_else(|| "default".into());
        let authtoken = AuthTokenConfig::password(
            url,
            self.user.as_deref().unwrap_or("swift"),
            &password,
            self.project.as_deref().unwrap_or("service"),
            &domain,
        );
        proxy.authtoken = Some(authtoken);
        // The volume gateway signs in to Keystone as the same service user,
        // which needs the ResellerAdmin role: it keeps every project's
        // volumes in that project's account.
        vol.auth_url = url.clone();
        vol.auth_user = self.user.clone().unwrap_or_else(|| "swift".into());
        vol.auth_key = password.clone();
        vol.auth_project = self.project.clone().unwrap_or_else(|| "service".into());
        vol.auth_domain = domain.clone();
        let mut ks = KeystoneAuthConfig {
            reseller_prefix: StrList::List(vec!["AUTH".into(), "SERVICE".into()]),
            default_domain_id: domain,
            ..Default::default()
        };
        ks.per_prefix.insert(
            "SERVICE_service_roles".into(),
            StrList::List(vec!["service".into()]),
        );
        proxy.keystoneauth = ks;
        proxy.tempauth.reseller_prefix = vec![TEMPAUTH_PREFIX.into()];
        proxy.tempauth.require_group.clear();
        let canon = |n: &str| n.trim().to_ascii_lowercase().replace('-', "_");
        if !proxy.pipeline.iter().any(|n| canon(n) == "authtoken") {
            let at = proxy
                .pipeline
                .iter()
                .position(|n| canon(n) == "tempauth")
                .unwrap_or(proxy.pipeline.len());
            proxy.pipeline.splice(
                at..at,
                ["authtoken".to_string(), "keystoneauth".to_string()],
            );
        }
        if let Some(a) = vol.image_account.as_mut() {
            if let Some(rest) = a.strip_prefix("AUTH_") {
                *a = format!("{TEMPAUTH_PREFIX}_{rest}");
            }
        }
        Ok(())
    }
}
