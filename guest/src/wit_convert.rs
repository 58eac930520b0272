//! The one mapping between the filter's own types and the types a WIT bindings generator makes
//! of `wit/types.wit`, `wit/settings.wit` and `wit/keyring.wit`, both ways.
//!
//! wit-bindgen (the component) and wasmtime's `bindgen!` (the host) generate different Rust
//! types from the same WIT, with the same member and case names. This macro is written against
//! those names, so each side expands it over its own generated modules instead of writing the
//! mapping again; a change to the WIT is mapped here once.

/// Expands to a module `convert` of functions between `$crate`'s types and those of the
/// generated `types` module `$wit`, `settings` module `$settings` and `keyring` module `$keyring`
/// (identifiers in scope where it is called): `to_wit_*` one way, `*_of_wit` the other.
#[doc(hidden)]
#[macro_export]
macro_rules! wit_conversions {
    ($wit:ident, $settings:ident, $keyring:ident) => {
        /// Conversions between the filter's types and the generated WIT types (from
        /// `taskgate_filter::wit_conversions!`). Each side uses the half it needs.
        #[expect(
            dead_code,
            reason = "each side of the WIT uses one direction of most pairs"
        )]
        mod convert {
            use super::{$keyring, $settings, $wit};
            use $crate as ours;

            // The plain records: one member list each, both directions from it.
            $crate::wit_record!(to_wit_request, request_of_wit, ours::Request <=> $wit::Request {
                method, path_with_query, headers, body, received_at, request_id
            });
            $crate::wit_record!(to_wit_response, response_of_wit, ours::Response <=> $wit::Response {
                status, headers, body, code
            });
            $crate::wit_record!(to_wit_token, token_of_wit, ours::TaskToken <=> $wit::TaskToken {
                version, kind, execution_id, event_id, account, verified
            });
            $crate::wit_record!(to_wit_recall, recall_of_wit, ours::Recall <=> $wit::Recall {
                nonce, nonce_seconds, task, settles
            });
            $crate::wit_record!(to_wit_limits, limits_of_wit, ours::Limits <=> $settings::Limits {
                max_body_bytes, max_aws_body_bytes, max_clock_skew_seconds
            });

            pub fn to_wit_dialect(dialect: ours::Dialect) -> $wit::Dialect {
                match dialect {
                    ours::Dialect::Fnf => $wit::Dialect::Fnf,
                    ours::Dialect::States => $wit::Dialect::States,
                    ours::Dialect::Swf => $wit::Dialect::Swf,
                    ours::Dialect::CodePipeline => $wit::Dialect::Codepipeline,
                }
            }

            pub fn dialect_of_wit(dialect: $wit::Dialect) -> ours::Dialect {
                match dialect {
                    $wit::Dialect::Fnf => ours::Dialect::Fnf,
                    $wit::Dialect::States => ours::Dialect::States,
                    $wit::Dialect::Swf => ours::Dialect::Swf,
                    $wit::Dialect::Codepipeline => ours::Dialect::CodePipeline,
                }
            }

            pub fn to_wit_callback(callback: ours::Callback) -> $wit::Callback {
                match callback {
                    ours::Callback::Failed => $wit::Callback::Failed,
                    ours::Callback::Succeeded => $wit::Callback::Succeeded,
                    ours::Callback::Canceled => $wit::Callback::Canceled,
                    ours::Callback::Heartbeat => $wit::Callback::Heartbeat,
                }
            }

            pub fn callback_of_wit(callback: $wit::Callback) -> ours::Callback {
                match callback {
                    $wit::Callback::Failed => ours::Callback::Failed,
                    $wit::Callback::Succeeded => ours::Callback::Succeeded,
                    $wit::Callback::Canceled => ours::Callback::Canceled,
                    $wit::Callback::Heartbeat => ours::Callback::Heartbeat,
                }
            }

            pub fn to_wit_signature_check(check: ours::SignatureCheck) -> $wit::SignatureCheck {
                match check {
                    ours::SignatureCheck::Edge => $wit::SignatureCheck::Edge,
                    ours::SignatureCheck::Service => $wit::SignatureCheck::Service,
                }
            }

            pub fn signature_check_of_wit(check: $wit::SignatureCheck) -> ours::SignatureCheck {
                match check {
                    $wit::SignatureCheck::Edge => ours::SignatureCheck::Edge,
                    $wit::SignatureCheck::Service => ours::SignatureCheck::Service,
                }
            }

            pub fn to_wit_token_error(error: ours::TokenError) -> $wit::TokenError {
                match error {
                    ours::TokenError::Unverified => $wit::TokenError::Unverified,
                    ours::TokenError::Malformed(why) => $wit::TokenError::Malformed(why),
                }
            }

            pub fn token_error_of_wit(error: $wit::TokenError) -> ours::TokenError {
                match error {
                    $wit::TokenError::Unverified => ours::TokenError::Unverified,
                    $wit::TokenError::Malformed(why) => ours::TokenError::Malformed(why),
                }
            }

            pub fn to_wit_verdict(verdict: ours::Verdict) -> $wit::Verdict {
                match verdict {
                    ours::Verdict::Forward(report) => $wit::Verdict::Forward($wit::Report {
                        dialect: to_wit_dialect(report.dialect),
                        action: report.action,
                        callback: to_wit_callback(report.callback),
                        request_id: report.request_id,
                        access_key_id: report.access_key_id,
                        signature: to_wit_signature_check(report.signature),
                        task_token: report.task_token,
                        token: report.token.map(to_wit_token),
                        error: report.error,
                        cause: report.cause,
                        output: report.output,
                        recall: to_wit_recall(report.recall),
                    }),
                    ours::Verdict::Pass(call) => $wit::Verdict::Pass($wit::PassedCall {
                        dialect: to_wit_dialect(call.dialect),
                        action: call.action,
                        request_id: call.request_id,
                        access_key_id: call.access_key_id,
                        signature: call.signature.map(to_wit_signature_check),
                        recall: to_wit_recall(call.recall),
                    }),
                    ours::Verdict::Reject(response) => {
                        $wit::Verdict::Reject(to_wit_response(response))
                    }
                }
            }

            pub fn verdict_of_wit(verdict: $wit::Verdict) -> ours::Verdict {
                match verdict {
                    $wit::Verdict::Forward(report) => ours::Verdict::Forward(ours::Report {
                        dialect: dialect_of_wit(report.dialect),
                        action: report.action,
                        callback: callback_of_wit(report.callback),
                        request_id: report.request_id,
                        access_key_id: report.access_key_id,
                        signature: signature_check_of_wit(report.signature),
                        task_token: report.task_token,
                        token: report.token.map(token_of_wit),
                        error: report.error,
                        cause: report.cause,
                        output: report.output,
                        recall: recall_of_wit(report.recall),
                    }),
                    $wit::Verdict::Pass(call) => ours::Verdict::Pass(ours::PassedCall {
                        dialect: dialect_of_wit(call.dialect),
                        action: call.action,
                        request_id: call.request_id,
                        access_key_id: call.access_key_id,
                        signature: call.signature.map(signature_check_of_wit),
                        recall: recall_of_wit(call.recall),
                    }),
                    $wit::Verdict::Reject(response) => {
                        ours::Verdict::Reject(response_of_wit(response))
                    }
                }
            }

            pub fn to_wit_failure(failure: ours::EdgeFailure) -> $wit::EdgeFailure {
                match failure {
                    ours::EdgeFailure::Internal => $wit::EdgeFailure::Internal,
                    ours::EdgeFailure::Throttled { limit } => $wit::EdgeFailure::Throttled(limit),
                    ours::EdgeFailure::EntityTooLarge { limit } => {
                        $wit::EdgeFailure::EntityTooLarge(limit)
                    }
                    ours::EdgeFailure::NoRoute { host } => $wit::EdgeFailure::NoRoute(host),
                    ours::EdgeFailure::Tunnel => $wit::EdgeFailure::Tunnel,
                    ours::EdgeFailure::Malformed { detail } => $wit::EdgeFailure::Malformed(detail),
                    ours::EdgeFailure::SlowClient => $wit::EdgeFailure::SlowClient,
                    ours::EdgeFailure::NonceUsed => $wit::EdgeFailure::NonceUsed,
                    ours::EdgeFailure::Unverifiable { access_key_id } => {
                        $wit::EdgeFailure::Unverifiable(access_key_id)
                    }
                    ours::EdgeFailure::TaskSettled { task_token } => {
                        $wit::EdgeFailure::TaskSettled(task_token)
                    }
                    ours::EdgeFailure::TaskBusy => $wit::EdgeFailure::TaskBusy,
                    ours::EdgeFailure::RateLimited { retry_after } => {
                        $wit::EdgeFailure::RateLimited(retry_after)
                    }
                }
            }

            pub fn failure_of_wit(failure: $wit::EdgeFailure) -> ours::EdgeFailure {
                match failure {
                    $wit::EdgeFailure::Internal => ours::EdgeFailure::Internal,
                    $wit::EdgeFailure::Throttled(limit) => ours::EdgeFailure::Throttled { limit },
                    $wit::EdgeFailure::EntityTooLarge(limit) => {
                        ours::EdgeFailure::EntityTooLarge { limit }
                    }
                    $wit::EdgeFailure::NoRoute(host) => ours::EdgeFailure::NoRoute { host },
                    $wit::EdgeFailure::Tunnel => ours::EdgeFailure::Tunnel,
                    $wit::EdgeFailure::Malformed(detail) => ours::EdgeFailure::Malformed { detail },
                    $wit::EdgeFailure::SlowClient => ours::EdgeFailure::SlowClient,
                    $wit::EdgeFailure::NonceUsed => ours::EdgeFailure::NonceUsed,
                    $wit::EdgeFailure::Unverifiable(access_key_id) => {
                        ours::EdgeFailure::Unverifiable { access_key_id }
                    }
                    $wit::EdgeFailure::TaskSettled(task_token) => {
                        ours::EdgeFailure::TaskSettled { task_token }
                    }
                    $wit::EdgeFailure::TaskBusy => ours::EdgeFailure::TaskBusy,
                    $wit::EdgeFailure::RateLimited(retry_after) => {
                        ours::EdgeFailure::RateLimited { retry_after }
                    }
                }
            }

            $crate::wit_keyring_conversions!($keyring);

            pub fn to_wit_other_calls(other: ours::OtherCalls) -> $settings::OtherCalls {
                match other {
                    ours::OtherCalls::Reject => $settings::OtherCalls::Reject,
                    ours::OtherCalls::Authenticate => $settings::OtherCalls::Authenticate,
                    ours::OtherCalls::Forward => $settings::OtherCalls::Forward,
                }
            }

            pub fn to_wit_temporary_credentials(
                setting: ours::TemporaryCredentials,
            ) -> $settings::TemporaryCredentials {
                match setting {
                    ours::TemporaryCredentials::Refuse => $settings::TemporaryCredentials::Refuse,
                    ours::TemporaryCredentials::Forward => $settings::TemporaryCredentials::Forward,
                }
            }

            pub fn temporary_credentials_of_wit(
                setting: $settings::TemporaryCredentials,
            ) -> ours::TemporaryCredentials {
                match setting {
                    $settings::TemporaryCredentials::Refuse => ours::TemporaryCredentials::Refuse,
                    $settings::TemporaryCredentials::Forward => ours::TemporaryCredentials::Forward,
                }
            }

            pub fn other_calls_of_wit(other: $settings::OtherCalls) -> ours::OtherCalls {
                match other {
                    $settings::OtherCalls::Reject => ours::OtherCalls::Reject,
                    $settings::OtherCalls::Authenticate => ours::OtherCalls::Authenticate,
                    $settings::OtherCalls::Forward => ours::OtherCalls::Forward,
                }
            }
        }
    };
}

/// The keyring half of [`wit_conversions!`], on its own for components that import or export
/// only `keyring` (the `wasi:http` build and the keyring provider): the four functions, expanded
/// where it is called, with `$keyring` the generated `keyring` module in scope there.
#[doc(hidden)]
#[macro_export]
macro_rules! wit_keyring_conversions {
    ($keyring:ident) => {
        pub fn to_wit_signing(signing: $crate::Signing<'_>) -> $keyring::Signing {
            match signing {
                $crate::Signing::RpcV1 => $keyring::Signing::RpcV1,
                $crate::Signing::Acs3 => $keyring::Signing::Acs3,
                $crate::Signing::SigV4(scope) => $keyring::Signing::Sigv4($keyring::Sigv4Scope {
                    date: scope.date.to_owned(),
                    region: scope.region.to_owned(),
                    service: scope.service.to_owned(),
                }),
            }
        }

        pub fn signing_of_wit(signing: &$keyring::Signing) -> $crate::Signing<'_> {
            match signing {
                $keyring::Signing::RpcV1 => $crate::Signing::RpcV1,
                $keyring::Signing::Acs3 => $crate::Signing::Acs3,
                $keyring::Signing::Sigv4(scope) => $crate::Signing::SigV4($crate::sign::Scope {
                    date: &scope.date,
                    region: &scope.region,
                    service: &scope.service,
                }),
            }
        }

        pub fn to_wit_token_mac(mac: $crate::TokenMac) -> $keyring::TokenMac {
            match mac {
                $crate::TokenMac::Unchecked => $keyring::TokenMac::Unchecked,
                $crate::TokenMac::Unmatched => $keyring::TokenMac::Unmatched,
                $crate::TokenMac::Verified(account) => $keyring::TokenMac::Verified(account),
            }
        }

        pub fn token_mac_of_wit(mac: $keyring::TokenMac) -> $crate::TokenMac {
            match mac {
                $keyring::TokenMac::Unchecked => $crate::TokenMac::Unchecked,
                $keyring::TokenMac::Unmatched => $crate::TokenMac::Unmatched,
                $keyring::TokenMac::Verified(account) => $crate::TokenMac::Verified(account),
            }
        }
    };
}

/// Both directions between two records with the same members, each moved as it is, from one
/// member list. Expanded by [`wit_conversions!`].
#[doc(hidden)]
#[macro_export]
macro_rules! wit_record {
    ($to:ident, $from:ident, $o:ident :: $or:ident <=> $t:ident :: $tr:ident { $($member:ident),* $(,)? }) => {
        pub fn $to(value: $o::$or) -> $t::$tr {
            $t::$tr { $($member: value.$member),* }
        }

        pub fn $from(value: $t::$tr) -> $o::$or {
            $o::$or { $($member: value.$member),* }
        }
    };
}
