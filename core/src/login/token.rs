//! Access and ID tokens (docs/ARCHITECTURE.md §8 rule 2), verified by `jsonwebtoken`: RS256 pinned by
//! configuration — the token's header never chooses the algorithm; `jku`/`x5u` are ignored;
//! `kid` only selects a cached key; `iss` and `aud` checked by its `Validation`. What Auth0
//! needs beyond it stays here: `iss` a single string, `exp`/`nbf` on the host's clock, scopes
//! (`scope` or RBAC `permissions`), and `sub`/`email`/`name` sane enough for a header.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::{Map, Value};

use crate::identity::{identity_from, is_list_item, Identity};
use crate::login::jwks::KeySet;

/// Longest token accepted; anything longer is refused before any parsing or callout.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Longest `kid` looked up.
const MAX_KID_BYTES: usize = 256;

/// Why a token was refused. Each kind maps to one stats outcome and one HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    pub kind: TokenErrorKind,
    pub message: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenErrorKind {
    /// Not a token we can read, bad signature, unknown key, wrong issuer, missing claims.
    Invalid,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `aud` does not include the API identifier.
    WrongAudience,
    /// A configured scope is missing.
    InsufficientScope,
}

fn invalid(message: &'static str) -> TokenError {
    TokenError {
        kind: TokenErrorKind::Invalid,
        message,
    }
}

/// How a presented token is to be checked.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenShape<'a> {
    /// Three segments: a JWS we verify ourselves.
    Jwt(&'a str),
    /// No dots (classic opaque) or five segments (Auth0's encrypted tokens): only the IdP's
    /// `/userinfo` can say whether it is valid.
    Opaque(&'a str),
}

/// Extracts the token from an `Authorization` value: `Bearer <token>`, or the bare token as
/// mo-auth accepts. Refuses what cannot be a token without any further work.
pub fn token_from_header(header: &[u8]) -> Result<TokenShape<'_>, TokenError> {
    let text = std::str::from_utf8(header).map_err(|_| invalid("token is not ASCII"))?;
    let text = text.trim();
    let token = match text.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => return Err(invalid("authorization scheme must be Bearer")),
        // The scheme with nothing after it is not a bare token called "Bearer".
        None if text.eq_ignore_ascii_case("bearer") => "",
        None => text,
    };
    if token.is_empty() {
        return Err(invalid("no access token"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(invalid("token too long"));
    }
    // RFC 6750 token68 characters only: nothing else can be a token.
    if !token
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
    {
        return Err(invalid("token has characters a token cannot have"));
    }
    let segments: Vec<&str> = token.split('.').collect();
    match segments.len() {
        1 => Ok(TokenShape::Opaque(token)),
        3 if segments.iter().all(|s| !s.is_empty()) => Ok(TokenShape::Jwt(token)),
        // JWE compact form; the encrypted-key segment is empty for direct encryption.
        5 if [0, 2, 3, 4].iter().all(|&i| !segments[i].is_empty()) => Ok(TokenShape::Opaque(token)),
        _ => Err(invalid("token is not a JWT")),
    }
}

/// A JWS whose header was read and accepted, signature not yet checked.
#[derive(Debug)]
pub struct UnverifiedJwt<'a> {
    pub kid: String,
    token: &'a str,
}

/// Reads a three-segment token's header and payload, unverified, so that what can never
/// verify is refused before any key lookup (and so before any JWKS fetch): `alg` must be
/// RS256 (never `none`, never HMAC: an HS256 token "signed" with our public key is refused
/// here), a `kid` is required, critical extensions are refused since none is understood, and
/// the payload must be a JSON object.
pub fn parse_jwt(token: &str) -> Result<UnverifiedJwt<'_>, TokenError> {
    let read = jsonwebtoken::dangerous::insecure_decode::<Map<String, Value>>(token).map_err(
        |e| match e.kind() {
            // The library reads the header into a type that only holds algorithms it knows, so
            // `"alg": "none"` is a JSON error too: say which segment, without guessing more.
            ErrorKind::Json(_) if jsonwebtoken::decode_header(token).is_err() => {
                invalid("token header is not JSON naming a known algorithm (RS256 is required)")
            }
            ErrorKind::Json(_) => invalid("token payload is not a JSON object of claims"),
            _ => from_library(&e),
        },
    )?;
    let header = read.header;
    if header.alg != Algorithm::RS256 {
        return Err(invalid("token algorithm is not RS256"));
    }
    // `crit` also counts when it is spelled with a type the library does not expect.
    if header.crit.is_some() || header.extras.inner().contains_key("crit") {
        return Err(invalid("token has critical header extensions"));
    }
    let kid = match header.kid {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_BYTES => kid,
        _ => return Err(invalid("token has no usable key id")),
    };
    Ok(UnverifiedJwt { kid, token })
}

/// Who must have issued a token, and for whom.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
}

impl UnverifiedJwt<'_> {
    /// Checks the RS256 signature with the key the `kid` names in `keys`, and nothing else
    /// (for tokens whose claims follow other rules, like logout tokens). The caller decides
    /// what an unknown `kid` means (refetch or refuse); this only says it is unknown.
    pub fn verify(self, keys: &KeySet) -> Result<Value, VerifyError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        validation.validate_aud = false;
        self.decode(keys, &validation)
    }

    /// Checks the signature, then that `iss` is the expected issuer, `aud` includes the
    /// expected audience, and `exp` and `sub` are present. The times are then checked by
    /// [`check_claims`] (or the ID token's rules) against the host's clock: the library
    /// would read the system clock, which the core never does (tests fix the time).
    pub fn verify_for(self, keys: &KeySet, expected: &Expected<'_>) -> Result<Value, VerifyError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[expected.issuer]);
        validation.set_audience(&[expected.audience]);
        validation.validate_exp = false;
        validation.leeway = LEEWAY_SECS;
        self.decode(keys, &validation)
    }

    fn decode(self, keys: &KeySet, validation: &Validation) -> Result<Value, VerifyError> {
        let key = keys.get(&self.kid).ok_or(VerifyError::UnknownKey)?;
        #[cfg(target_arch = "wasm32")]
        crate::login::rs256_provider::install();
        jsonwebtoken::decode::<Value>(self.token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| VerifyError::Token(from_library(&e)))
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum VerifyError {
    UnknownKey,
    Token(TokenError),
}

/// The library's refusal as our kind and message (never the token's content).
fn from_library(error: &jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        ErrorKind::InvalidAudience => wrong_audience(),
        ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
            "aud" => wrong_audience(),
            "exp" => invalid("token has no exp (or it is not a number)"),
            "iss" => invalid("token issuer is not the configured issuer"),
            "sub" => invalid("token has no usable sub"),
            _ => invalid("token lacks a required claim"),
        },
        ErrorKind::InvalidIssuer => invalid("token issuer is not the configured issuer"),
        ErrorKind::InvalidSignature => invalid("token signature is not valid"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            invalid("token algorithm is not RS256")
        }
        ErrorKind::Base64(_) => invalid("token segment is not base64url"),
        ErrorKind::Json(_) | ErrorKind::Utf8(_) => {
            invalid("token header or payload is not a JSON object of the expected claims")
        }
        ErrorKind::InvalidToken => invalid("token is not a JWT"),
        _ => invalid("token is not valid"),
    }
}

fn wrong_audience() -> TokenError {
    TokenError {
        kind: TokenErrorKind::WrongAudience,
        message: "token audience does not include this API",
    }
}

/// The rules a token's claims must meet.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub scopes: &'a [String],
    pub now_secs: u64,
    /// The claim holding roles (`auth0.roles_claim`); none: no roles are taken.
    pub roles_claim: Option<&'a str>,
}

/// Checks what [`UnverifiedJwt::verify_for`] leaves to us in a verified access token's
/// claims; on success, the identity (with the token's [`grants`]) and the audiences (the
/// caller looks for the userinfo URL among them).
pub fn check_claims(
    payload: &Value,
    rules: &ClaimRules<'_>,
) -> Result<(Identity, Vec<String>), TokenError> {
    // The library also takes an array of issuers holding ours; RFC 7519 `iss` is one string.
    if payload.get("iss").and_then(Value::as_str) != Some(rules.issuer) {
        return Err(invalid("token issuer is not the configured issuer"));
    }
    check_times(payload, rules.now_secs)?;
    let audiences: Vec<String> = match payload.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| a == rules.audience) {
        return Err(wrong_audience());
    }
    let mut identity = identity_from(payload).ok_or_else(|| invalid("token has no usable sub"))?;
    (identity.permissions, identity.roles) = grants(payload, rules.roles_claim);
    if !has_scopes(payload, rules.scopes) {
        return Err(TokenError {
            kind: TokenErrorKind::InsufficientScope,
            message: "token lacks a required scope",
        });
    }
    Ok((identity, audiences))
}

/// `exp` (required) and `nbf` (if present) against the host's clock, with [`LEEWAY_SECS`].
pub fn check_times(payload: &Value, now_secs: u64) -> Result<(), TokenError> {
    let exp = match payload.get("exp") {
        Some(Value::Number(n)) => n
            .as_f64()
            .ok_or_else(|| invalid("token exp is not a number"))?,
        Some(_) => return Err(invalid("token exp is not a number")),
        None => return Err(invalid("token has no exp")),
    };
    let now = now_secs as f64;
    let leeway = LEEWAY_SECS as f64;
    if now > exp + leeway {
        return Err(TokenError {
            kind: TokenErrorKind::Expired,
            message: "token has expired",
        });
    }
    match payload.get("nbf") {
        None => Ok(()),
        Some(Value::Number(n)) => {
            let nbf = n.as_f64().unwrap_or(f64::INFINITY);
            if now + leeway < nbf {
                return Err(invalid("token is not valid yet"));
            }
            Ok(())
        }
        Some(_) => Err(invalid("token nbf is not a number")),
    }
}

/// What a verified access token grants, for route rules: permissions from Auth0's RBAC
/// `permissions` array, else the space-separated `scope`; roles from the claim named by
/// `roles_claim` (an array, or a space-separated string). Every login path takes them here.
/// Items a stored list cannot hold (empty, with spaces, too long) are dropped: a session may
/// hold less than its token, never more.
pub fn grants(payload: &Value, roles_claim: Option<&str>) -> (Vec<String>, Vec<String>) {
    fn list(value: Option<&Value>) -> Vec<String> {
        match value {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .filter(|i| is_list_item(i))
                .map(str::to_string)
                .collect(),
            Some(Value::String(text)) => text
                .split_whitespace()
                .filter(|i| is_list_item(i))
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        }
    }
    let permissions = match payload.get("permissions") {
        Some(Value::Array(_)) => list(payload.get("permissions")),
        _ => list(payload.get("scope").filter(|s| s.is_string())),
    };
    let roles = roles_claim.map_or_else(Vec::new, |claim| list(payload.get(claim)));
    (permissions, roles)
}

/// Every required scope must be granted, in the space-separated `scope` claim or in Auth0's
/// RBAC `permissions` array.
fn has_scopes(payload: &Value, required: &[String]) -> bool {
    let scope_claim = payload.get("scope").and_then(Value::as_str).unwrap_or("");
    let permissions = payload.get("permissions").and_then(Value::as_array);
    required.iter().all(|needed| {
        scope_claim.split_whitespace().any(|s| s == needed)
            || permissions.is_some_and(|p| p.iter().any(|v| v.as_str() == Some(needed.as_str())))
    })
}

#[cfg(test)]
#[path = "../tests/login/token.rs"]
mod tests;
