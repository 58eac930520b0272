//! `source = "aws"`: the AWS SDK's own default credential chain (`aws-config`: environment,
//! shared files, web identity, ECS container credentials, EC2 instance metadata), over the
//! gateway's own HTTP client (hyper with rustls and the system's trust store) rather than the
//! SDK's default one, which would bring a second TLS stack into the binary.

use aws_credential_types::provider::ProvideCredentials as _;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector as Tcp;
use hyper_util::rt::TokioExecutor;
use std::time::SystemTime;
use taskgate_filter::SigningCredential;

/// How long one request of the chain may take (metadata, container endpoint, STS).
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An error of the chain's HTTP exchange.
type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The gateway's HTTP client, as the SDK's chain wants one.
#[derive(Debug, Clone)]
struct Hyper(Client<HttpsConnector<Tcp>, Full<Bytes>>);

impl HttpConnector for Hyper {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.0.clone();
        HttpConnectorFuture::new(async move {
            let other = |error: Failure| ConnectorError::other(error, None);
            let request = request.try_into_http1x().map_err(|e| other(e.into()))?;
            let (parts, body) = request.into_parts();
            // The chain's requests are small and in memory (a token PUT, an STS form).
            let body = Full::new(Bytes::copy_from_slice(body.bytes().unwrap_or_default()));
            let exchange = async {
                let response = client
                    .request(hyper::Request::from_parts(parts, body))
                    .await?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await?.to_bytes();
                Ok::<_, Failure>((parts, body))
            };
            let (parts, body) = tokio::time::timeout(TIMEOUT, exchange)
                .await
                .map_err(|elapsed| ConnectorError::timeout(elapsed.into()))?
                .map_err(ConnectorError::io)?;
            HttpResponse::try_from(hyper::Response::from_parts(parts, SdkBody::from(body)))
                .map_err(|e| other(e.into()))
        })
    }
}

impl HttpClient for Hyper {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// One fetch from the AWS SDK's default chain: the credential and when it expires.
pub async fn fetch() -> anyhow::Result<(SigningCredential, Option<SystemTime>)> {
    let tls = crate::serve::tls::Trust::load().client_config(None)?;
    let connector = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    let client = Hyper(Client::builder(TokioExecutor::new()).build(connector));
    let config =
        aws_config::provider_config::ProviderConfig::without_region().with_http_client(client);
    let chain = aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
        .configure(config)
        .build()
        .await;
    let credentials = chain
        .provide_credentials()
        .await
        .map_err(|error| anyhow::anyhow!("the AWS credential chain found none: {error}"))?;
    let credential = SigningCredential {
        access_key_id: credentials.access_key_id().to_owned(),
        secret: credentials.secret_access_key().to_owned(),
        session_token: credentials.session_token().map(str::to_owned),
    };
    Ok((credential, credentials.expiry()))
}
