//! The configuration document as written: private shapes that mirror it, refuse unknown
//! keys and check what one value alone decides (a blank string, a relative path, a number
//! out of range), so that serde's error already names the key.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::{error, Claim, ConfigError, PublicPath};
use crate::duration::{kind_of, Duration};
use crate::policy::RuleList;

// Every member is optional (an explicit `null` counts as absent): what is required, and every
// default, is decided in `resolve`, where an error can name the key it is about.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawConfig {
    pub(super) auth0: Option<RawAuth0>,
    pub(super) endpoints: Option<RawEndpoints>,
    pub(super) session: Option<RawSession>,
    pub(super) public: Option<PathList>,
    pub(super) headers: Option<HeaderList>,
    pub(super) sidecar: Option<RawSidecar>,
    pub(super) code_flow: Option<RawCodeFlow>,
    pub(super) device: Option<RawDevice>,
    pub(super) limits: Option<RawLimits>,
    /// The rules' own shapes live with them, in the policy module.
    pub(super) rules: Option<RuleList>,
    /// Token relay (`config/relay.rs`).
    pub(super) relay: Option<super::relay::RawRelay>,
    pub(super) assertion: Option<RawAssertion>,
    pub(super) profile: Option<Vec<RawProfile>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawAssertion {
    pub(super) issuer: Option<Text>,
    pub(super) audience: Option<Text>,
    pub(super) header: Option<Text>,
    pub(super) lifetime: Option<Duration>,
    /// PEM texts; checked (and never quoted in an error) in `resolve`.
    pub(super) keys: Option<Vec<String>>,
    pub(super) jwks_path: Option<AbsPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawLimits {
    pub(super) idp_calls_per_second: Option<Count>,
    pub(super) sessions_per_user: Option<Count>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawAuth0 {
    pub(super) domain: Option<Text>,
    pub(super) api: Option<RawApi>,
    /// mo-auth spells the identifier as one dotted key.
    #[serde(rename = "api.identifier")]
    pub(super) api_identifier: Option<Text>,
    pub(super) scope: Option<Scopes>,
    pub(super) cluster: Option<Text>,
    pub(super) issuer: Option<Text>,
    pub(super) jwks_path: Option<AbsPath>,
    pub(super) userinfo_path: Option<AbsPath>,
    pub(super) timeout: Option<Duration>,
    pub(super) accept_opaque: Option<Flag>,
    pub(super) roles_claim: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawApi {
    pub(super) identifier: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawEndpoints {
    pub(super) login: Option<AbsPath>,
    pub(super) logout: Option<AbsPath>,
    pub(super) keep_alive: Option<AbsPath>,
    pub(super) sessions: Option<AbsPath>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawSession {
    pub(super) cookie: Option<RawCookie>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawCookie {
    pub(super) name: Option<Text>,
    pub(super) domain: Option<Text>,
    pub(super) path: Option<AbsPath>,
    pub(super) secure: Option<Flag>,
    pub(super) httponly: Option<Flag>,
    pub(super) samesite: Option<Text>,
    pub(super) inactive_lifetime: Option<Duration>,
    pub(super) max_lifetime: Option<Duration>,
    pub(super) signing_keys: Option<SigningKeys>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawSidecar {
    pub(super) cluster: Option<Text>,
    pub(super) token: Option<Text>,
    pub(super) login_requires_store: Option<Flag>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawCodeFlow {
    pub(super) client_id: Option<Text>,
    pub(super) client_secret: Option<Text>,
    pub(super) callback: Option<AbsPath>,
    pub(super) scope: Option<Text>,
    pub(super) audience: Option<Text>,
    pub(super) logout_redirect: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawDevice {
    pub(super) start: Option<AbsPath>,
    pub(super) poll: Option<AbsPath>,
    pub(super) client_id: Option<Text>,
    pub(super) scope: Option<Text>,
    pub(super) audience: Option<Text>,
}

/// `profile[i]`: an identity API (its checks are in `profile`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawProfile {
    pub(super) name: Option<Text>,
    pub(super) cluster: Option<Text>,
    pub(super) url: Option<Text>,
    pub(super) path: Option<AbsPath>,
    pub(super) token: Option<RawToken>,
    pub(super) timeout: Option<Duration>,
    pub(super) max_answer_bytes: Option<Count>,
    pub(super) map: Option<std::collections::BTreeMap<String, RawMapping>>,
    pub(super) confirm: Option<Vec<RawConfirm>>,
    pub(super) on_failure: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawToken {
    pub(super) client_id: Option<Text>,
    pub(super) client_secret: Option<Text>,
    pub(super) audience: Option<Text>,
    pub(super) scope: Option<Text>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object")]
pub(super) struct RawMapping {
    pub(super) value: Option<String>,
    pub(super) values: Option<String>,
    pub(super) keys: Option<String>,
    pub(super) boolean: Option<String>,
    pub(super) each: Option<String>,
    pub(super) prefix: Option<Text>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = r#"{"true": pointer} or {"same_email": pointer}"#
)]
pub(super) struct RawConfirm {
    #[serde(rename = "true")]
    pub(super) is_true: Option<String>,
    pub(super) same_email: Option<String>,
}

/// A string that is not blank.
pub(super) struct Text(pub(super) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Err(de::Error::custom("must not be empty"));
        }
        Ok(Text(text))
    }
}

/// An absolute path without query, fragment or spaces.
pub(super) struct AbsPath(pub(super) String);

impl<'de> Deserialize<'de> for AbsPath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(path) = Text::deserialize(d)?;
        check_absolute_path(&path).map_err(de::Error::custom)?;
        Ok(AbsPath(path))
    }
}

/// A boolean, with an error that says which words are meant.
pub(super) struct Flag(pub(super) bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
        }
        d.deserialize_bool(V)
    }
}

/// A whole number from 1 to 1,000,000.
pub(super) struct Count(pub(super) u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                match u32::try_from(v) {
                    Ok(n) if (1..=1_000_000).contains(&n) => Ok(Count(n)),
                    _ => Err(E::custom(format!(
                        "{v} is not a whole number from 1 to 1000000"
                    ))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number from 1 to 1000000"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number from 1 to 1000000"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// `auth0.scope`: a space-separated string, or an array of scope names.
pub(super) struct Scopes(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Scopes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a space-separated string of scopes or an array of scope names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scopes, E> {
                Ok(Scopes(v.split_whitespace().map(str::to_string).collect()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scopes, A::Error> {
                let mut scopes = Vec::new();
                while let Some(item) = seq.next_element::<serde_json::Value>()? {
                    match item.as_str().map(str::trim) {
                        Some(name) if !name.is_empty() => scopes.push(name.to_string()),
                        _ => {
                            return Err(de::Error::custom(format!(
                                "expected scope names, found {}",
                                kind_of(&item)
                            )))
                        }
                    }
                }
                Ok(Scopes(scopes))
            }
        }
        d.deserialize_any(V)
    }
}

/// `public`: paths, each exact or (ending in `/`) a prefix.
pub(super) struct PathList(pub(super) Vec<PublicPath>);

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Item(String);
        impl<'de> Deserialize<'de> for Item {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = Item;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a path")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Item, E> {
                        check_absolute_path(v).map_err(E::custom)?;
                        Ok(Item(v.to_string()))
                    }
                }
                d.deserialize_str(V)
            }
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PathList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of paths")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PathList, A::Error> {
                let mut paths = Vec::new();
                while let Some(Item(path)) = seq.next_element()? {
                    paths.push(if path.ends_with('/') {
                        PublicPath::Prefix(path)
                    } else {
                        PublicPath::Exact(path)
                    });
                }
                Ok(PathList(paths))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `session.cookie.signing_keys`: a non-empty array of long enough strings.
pub(super) struct SigningKeys(pub(super) Vec<String>);

impl<'de> Deserialize<'de> for SigningKeys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SigningKeys;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-empty array of keys")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SigningKeys, A::Error> {
                let mut keys = Vec::new();
                while let Some(key) = seq.next_element::<serde_json::Value>()? {
                    match key {
                        serde_json::Value::String(k) if k.len() >= 32 => keys.push(k),
                        serde_json::Value::String(_) => return Err(de::Error::custom(
                            "each key must be at least 32 characters (use 32 random bytes, base64)",
                        )),
                        other => {
                            return Err(de::Error::custom(format!(
                                "expected strings, found {}",
                                kind_of(&other)
                            )))
                        }
                    }
                }
                if keys.is_empty() {
                    return Err(de::Error::custom(
                        "expected a non-empty array of keys, found an empty array",
                    ));
                }
                Ok(SigningKeys(keys))
            }
        }
        d.deserialize_seq(V)
    }
}

/// `headers`: header name to claim, in document order.
pub(super) struct HeaderList(pub(super) Vec<(String, Claim)>);

impl<'de> Deserialize<'de> for Claim {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Claim;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"one of "sub", "email", "name", "permissions", "roles", "groups""#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Claim, E> {
                match v {
                    "sub" => Ok(Claim::Sub),
                    "email" => Ok(Claim::Email),
                    "name" => Ok(Claim::Name),
                    "permissions" => Ok(Claim::Permissions),
                    "roles" => Ok(Claim::Roles),
                    "groups" => Ok(Claim::Groups),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for HeaderList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HeaderList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of header: claim")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeaderList, A::Error> {
                let mut headers = Vec::new();
                while let Some((name, claim)) = map.next_entry::<String, Claim>()? {
                    headers.push((name, claim));
                }
                Ok(HeaderList(headers))
            }
        }
        d.deserialize_map(V)
    }
}

/// Reads the document: its shape and each value alone. What is required, and every default,
/// is decided in `resolve`.
pub(super) fn read(bytes: &[u8]) -> Result<RawConfig, ConfigError> {
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let raw: RawConfig = serde_path_to_error::deserialize(&mut json).map_err(from_serde)?;
    json.end()
        .map_err(|e| error("", format!("not valid JSON: {e}")))?;
    Ok(raw)
}

/// Turns serde's error into ours: the key path as the user writes it (`a.b[2].c`), and for
/// an unknown key, that key itself and the ones that are known there.
fn from_serde(e: serde_path_to_error::Error<serde_json::Error>) -> ConfigError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    let inner = e.into_inner();
    if matches!(
        inner.classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return error("", format!("not valid JSON: {inner}"));
    }
    let message = inner.to_string();
    // serde_json appends " at line L column C": the key says where, in words.
    let message = match message.rfind(" at line ") {
        Some(at) => &message[..at],
        None => message.as_str(),
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, known) = rest.split_once('`').unwrap_or((rest, ""));
        let known = known
            .trim_start_matches(", expected one of ")
            .trim_start_matches(", expected ")
            .replace('`', "");
        let key = if path.ends_with(field) || path.is_empty() && field.is_empty() {
            path.clone()
        } else if path.is_empty() {
            field.to_string()
        } else {
            format!("{path}.{field}")
        };
        return error(&key, format!("unknown key (known here: {known})"));
    }
    error(
        &path,
        message
            .replace("invalid type: ", "")
            .replace("invalid value: ", ""),
    )
}

fn check_absolute_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!(
            "{path:?} is not an absolute path (it must start with /)"
        ));
    }
    if path.contains(['?', '#']) || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{path:?} must be a plain path, without query, fragment or spaces"
        ));
    }
    Ok(())
}
