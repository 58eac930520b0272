//! Signing credentials from a cloud's own chain (`[[credentials]] source`), for re-signing at
//! the edge (`sign_as`): fetched when the gateway starts, held, and fetched again before they
//! expire, without a restart. While one cannot be had, `/readyz` says so and the calls that
//! need it are answered with the service's own 500.
//!
//! - `source = "alibaba"`: the environment (`ALIBABA_CLOUD_ACCESS_KEY_ID`,
//!   `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, `ALIBABA_CLOUD_SECURITY_TOKEN`), then the ECS instance's
//!   RAM role from its metadata service (IMDSv2 token first, as Alibaba's own credential
//!   providers do, then without one), the way Alibaba Cloud's SDKs find credentials.
//!
//! - `source = "aws"`: the AWS SDK's own default chain (`aws.rs`, the `aws-chain` feature).
//!
//! Alibaba's is written here rather than taken from a library: no maintained Rust crate
//! provides Alibaba Cloud's credential chain, and it is two HTTP GETs over the client the
//! gateway already has.

#[cfg(feature = "aws-chain")]
mod aws;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper::{Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use taskgate_filter::config_file::{ChainSource, ChainSpec};
use taskgate_filter::{CredentialSource, SigningCredential};

/// The ECS instance metadata service.
const ALIBABA_METADATA: &str = "http://100.100.100.200";
/// How long one metadata request may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A credential is fetched again this long before it expires (the AWS SDKs' margin).
const REFRESH_BEFORE: Duration = Duration::from_secs(5 * 60);
/// How often a credential without an expiry (from the environment) is read again.
const REFRESH_UNDATED: Duration = Duration::from_secs(15 * 60);
/// After a failed fetch, the next try comes after this, doubling up to `RETRY_MAX`.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// A credential from a chain, as last fetched.
pub struct Chain {
    spec: ChainSpec,
    held: RwLock<Held>,
    /// Set once its refresh task runs: a reload that keeps the chain starts no second one.
    refreshing: AtomicBool,
}

/// What a chain holds: a credential and when it expires, or why there is none.
enum Held {
    /// Not fetched yet.
    Pending,
    /// The last fetch failed and nothing valid is held.
    Failed(String),
    /// A credential, valid until `expires` (`None`: no expiry given).
    Valid {
        credential: SigningCredential,
        expires: Option<SystemTime>,
    },
}

impl Chain {
    /// A chain for this `[[credentials]]` entry; nothing is fetched until [`Chain::refresh`].
    pub fn new(spec: &ChainSpec) -> Arc<Chain> {
        Arc::new(Chain {
            spec: spec.clone(),
            held: RwLock::new(Held::Pending),
            refreshing: AtomicBool::new(false),
        })
    }

    /// The `[[credentials]]` entry it comes from.
    pub fn spec(&self) -> &ChainSpec {
        &self.spec
    }

    /// Fetches the credential now; on success it replaces what is held. The time until the
    /// next fetch is due.
    pub async fn refresh(&self) -> Result<Duration, String> {
        match fetch(&self.spec.source).await {
            Ok((credential, expires)) => {
                let next = match expires {
                    Some(expires) => (expires.duration_since(SystemTime::now()))
                        .unwrap_or_default()
                        .saturating_sub(REFRESH_BEFORE)
                        .max(RETRY_FIRST),
                    None => REFRESH_UNDATED,
                };
                if let Ok(mut held) = self.held.write() {
                    *held = Held::Valid {
                        credential,
                        expires,
                    };
                }
                Ok(next)
            }
            Err(error) => {
                let why = format!("{error:#}");
                if let Ok(mut held) = self.held.write()
                    && !matches!(&*held, Held::Valid { expires, .. } if !expired(*expires))
                {
                    *held = Held::Failed(why.clone());
                }
                Err(why)
            }
        }
    }

    /// Keeps the credential fresh while the chain is in use (a reload that drops it ends the
    /// task): fetched again before it expires, retried with a growing pause when a fetch fails.
    pub fn keep_fresh(self: &Arc<Chain>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let chain: Weak<Chain> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut retry = RETRY_FIRST;
            loop {
                let Some(strong) = chain.upgrade() else {
                    return;
                };
                let pause = match strong.refresh().await {
                    Ok(next) => {
                        retry = RETRY_FIRST;
                        next
                    }
                    Err(why) => {
                        eprintln!(
                            "taskgate: credentials '{}' cannot be had: {why}; trying again in {} s",
                            strong.spec.name,
                            retry.as_secs()
                        );
                        let pause = retry;
                        retry = (retry * 2).min(RETRY_MAX);
                        pause
                    }
                };
                drop(strong);
                tokio::time::sleep(pause).await;
            }
        });
    }
}

impl CredentialSource for Chain {
    fn current(&self) -> Result<SigningCredential, String> {
        let held = self
            .held
            .read()
            .map_err(|_| "the credential's lock is poisoned".to_owned())?;
        match &*held {
            Held::Pending => Err("not fetched yet".to_owned()),
            Held::Failed(why) => Err(why.clone()),
            Held::Valid { expires, .. } if expired(*expires) => {
                Err("expired, and no fresh one could be had".to_owned())
            }
            Held::Valid { credential, .. } => Ok(credential.clone()),
        }
    }
}

fn expired(expires: Option<SystemTime>) -> bool {
    expires.is_some_and(|expires| expires <= SystemTime::now())
}

/// One fetch from a chain: the credential and when it expires.
async fn fetch(source: &ChainSource) -> anyhow::Result<(SigningCredential, Option<SystemTime>)> {
    match source {
        ChainSource::Alibaba {
            ram_role,
            metadata_endpoint,
        } => {
            if let Some(credential) = alibaba_environment()? {
                return Ok((credential, None));
            }
            let endpoint = metadata_endpoint.as_deref().unwrap_or(ALIBABA_METADATA);
            alibaba_ram_role(endpoint.trim_end_matches('/'), ram_role.as_deref()).await
        }
        #[cfg(feature = "aws-chain")]
        ChainSource::Aws => aws::fetch().await,
        #[cfg(not(feature = "aws-chain"))]
        ChainSource::Aws => {
            bail!("this taskgate is built without the AWS chain (its feature aws-chain)")
        }
    }
}

/// Alibaba Cloud's credential environment variables, when the key id is set.
fn alibaba_environment() -> anyhow::Result<Option<SigningCredential>> {
    let read = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let Some(access_key_id) = read("ALIBABA_CLOUD_ACCESS_KEY_ID") else {
        return Ok(None);
    };
    let secret = read("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
        .context("ALIBABA_CLOUD_ACCESS_KEY_ID is set but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not")?;
    Ok(Some(SigningCredential {
        access_key_id,
        secret,
        session_token: read("ALIBABA_CLOUD_SECURITY_TOKEN"),
    }))
}

/// The ECS metadata service's answer for a RAM role.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RamRoleCredentials {
    code: Option<String>,
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// The instance's RAM role credentials from the metadata service at `endpoint`: an IMDSv2
/// token first (a hardened instance refuses requests without one), the role `role` or else
/// the one the metadata lists, then its credentials.
async fn alibaba_ram_role(
    endpoint: &str,
    role: Option<&str>,
) -> anyhow::Result<(SigningCredential, Option<SystemTime>)> {
    let client: Client<HttpConnector, Empty<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let token = metadata(
        &client,
        Method::PUT,
        &format!("{endpoint}/latest/api/token"),
        &[("X-aliyun-ecs-metadata-token-ttl-seconds", "21600")],
    )
    .await
    .ok();
    let with_token: Vec<(&str, &str)> = token
        .as_deref()
        .map(|token| ("X-aliyun-ecs-metadata-token", token))
        .into_iter()
        .collect();
    let base = format!("{endpoint}/latest/meta-data/ram/security-credentials/");
    let role = match role {
        Some(role) => role.to_owned(),
        None => {
            let listed = metadata(&client, Method::GET, &base, &with_token).await?;
            let first = listed.lines().map(str::trim).find(|line| !line.is_empty());
            first
                .context("the instance metadata lists no RAM role")?
                .to_owned()
        }
    };
    let text = metadata(&client, Method::GET, &format!("{base}{role}"), &with_token).await?;
    let answer: RamRoleCredentials = serde_json::from_str(&text)
        .context("the RAM role's credentials are not the metadata service's JSON")?;
    if let Some(code) = answer.code.filter(|code| code != "Success") {
        bail!("the metadata service answered {code} for the RAM role '{role}'");
    }
    let expires = taskgate_filter::parse_timestamp(&answer.expiration)
        .map(|seconds| UNIX_EPOCH + Duration::from_secs(seconds))
        .context("the RAM role's credentials have no valid Expiration")?;
    let credential = SigningCredential {
        access_key_id: answer.access_key_id,
        secret: answer.access_key_secret,
        session_token: Some(answer.security_token),
    };
    Ok((credential, Some(expires)))
}

/// One metadata request: the body of a 200, else an error naming the status (never the body:
/// it may hold a secret).
async fn metadata(
    client: &Client<HttpConnector, Empty<Bytes>>,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<String> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Empty::new()).context("a metadata request")?;
    let answer = tokio::time::timeout(FETCH_TIMEOUT, async {
        let response = client.request(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        anyhow::Ok((status, body))
    })
    .await
    .with_context(|| format!("{url}: no answer within {} s", FETCH_TIMEOUT.as_secs()))?
    .with_context(|| format!("{url}: unreachable"))?;
    let (status, body) = answer;
    if !status.is_success() {
        bail!("{url}: answered {status}");
    }
    String::from_utf8(body.to_vec()).with_context(|| format!("{url}: the answer is not text"))
}
