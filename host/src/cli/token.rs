//! `taskgate token mint|decode`: make and inspect task tokens.

use super::{load_config, sandbox};
use crate::Inputs;
use anyhow::bail;
use std::path::Path;
use std::process::ExitCode;
use taskgate::output;

/// `taskgate token mint`: a task token made with a configured token key.
pub fn mint(
    execution_id: &str,
    event_id: u64,
    kind: &str,
    account: Option<&str>,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let key = match &account {
        Some(account) => config
            .keyring
            .token_keys()
            .iter()
            .find(|k| &k.account == account),
        None => config.keyring.token_keys().first(),
    };
    let Some(key) = key else {
        bail!(
            "no token key is configured{}",
            account
                .map(|a| format!(" for account {a}"))
                .unwrap_or_default()
        );
    };
    let token = taskgate_filter::token::mint(kind, execution_id, event_id, &key.secret)
        .map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// `taskgate token decode`: what a task token holds, and whether a configured key made it.
pub fn decode(token: &str, inputs: &Inputs) -> anyhow::Result<ExitCode> {
    let config = load_config(inputs.config.as_deref())?;
    let sandbox = sandbox(inputs, &config, false)?;
    match sandbox.decode_token(&config, token)? {
        Ok(token) => {
            println!("{:#}", output::token(&token));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let why = match error {
                taskgate_filter::TokenError::Unverified => {
                    "its MAC matches no configured token key".to_owned()
                }
                taskgate_filter::TokenError::Malformed(why) => why,
            };
            println!("{}", serde_json::json!({ "valid": false, "error": why }));
            Ok(ExitCode::from(1))
        }
    }
}
