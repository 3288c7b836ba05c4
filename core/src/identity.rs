//! Who a session belongs to, and the limits on what of it is kept: the one shape every login
//! path fills and every store reads. A leaf: it imports nothing of the crate.

use serde_json::Value;

/// Longest `sub` kept; `email` and `name` longer than this are dropped.
pub const MAX_CLAIM_BYTES: usize = 255;

/// Who a session belongs to and what it may do: taken from the verified token (and, for the
/// code flow, the ID token) at login, kept with the session in shared data and the sidecar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Auth0's session id (the ID token's `sid`, code flow only): how a back-channel logout
    /// names the session it ends.
    pub sid: Option<String>,
    /// Permissions granted at login (the token's `permissions`, else its `scope`), for route
    /// rules. Items never contain whitespace.
    pub permissions: Vec<String>,
    /// Roles granted at login (the claim named by `auth0.roles_claim`, and any an identity
    /// API adds), for route rules.
    pub roles: Vec<String>,
    /// Groups an identity API says the user is in (`profile[].map.groups`), for route rules
    /// (`allow: {groups: [...]}`) and headers. Same item rules as roles.
    pub groups: Vec<String>,
    /// Whether an identity API says the email is verified; `None` when none said.
    pub email_verified: Option<bool>,
    /// Named extra claims from identity APIs (`profile[].map.<name>`), sorted by name, each
    /// name at most once: what headers and the signed assertion can carry.
    pub claims: Vec<(String, ClaimValue)>,
}

/// The value of a named extra claim, as a transform produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimValue {
    /// A string (numbers are kept as their JSON text). At most [`MAX_CLAIM_BYTES`].
    Text(String),
    Flag(bool),
    /// Items as for roles (see [`is_list_item`]).
    List(Vec<String>),
}

impl Identity {
    /// A named extra claim's value.
    pub fn claim(&self, name: &str) -> Option<&ClaimValue> {
        self.claims.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// A short text kept in a session: non-empty, at most [`MAX_CLAIM_BYTES`], no control
/// characters (they could split the header it is copied into).
pub fn is_short_text(v: &str) -> bool {
    !v.is_empty() && v.len() <= MAX_CLAIM_BYTES && !v.contains(char::is_control)
}

/// `sub` (required) and the optional `email` and `name` of a claims or userinfo object.
pub fn identity_from(claims: &Value) -> Option<Identity> {
    let short = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| is_short_text(v))
            .map(str::to_string)
    };
    Some(Identity {
        sub: short("sub")?,
        email: short("email"),
        name: short("name"),
        ..Identity::default()
    })
}

/// A permission or role as stored: non-empty, no whitespace or control characters (items
/// are space-separated), at most [`MAX_CLAIM_BYTES`].
pub fn is_list_item(item: &str) -> bool {
    !item.is_empty()
        && item.len() <= MAX_CLAIM_BYTES
        && !item.contains(|c: char| c.is_whitespace() || c.is_control())
}

/// The items of a stored list, read in place.
pub fn list_items(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    list.split(|&b| b == b' ').filter(|i| !i.is_empty())
}

impl ClaimValue {
    /// The JSON form (sync wire, sidecar store, the signed assertion): a string, a boolean,
    /// or an array of strings.
    pub fn to_json(&self) -> Value {
        match self {
            ClaimValue::Text(t) => Value::String(t.clone()),
            ClaimValue::Flag(b) => Value::Bool(*b),
            ClaimValue::List(items) => {
                Value::Array(items.iter().cloned().map(Value::String).collect())
            }
        }
    }

    /// From the JSON form, under the same bounds as at login; `None` for anything else.
    pub fn from_json(v: &Value) -> Option<ClaimValue> {
        match v {
            Value::String(t) if is_short_text(t) => Some(ClaimValue::Text(t.clone())),
            Value::Bool(b) => Some(ClaimValue::Flag(*b)),
            Value::Array(items) => Some(ClaimValue::List(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|i| is_list_item(i))
                    .map(str::to_string)
                    .collect(),
            )),
            _ => None,
        }
    }
}

/// Named claims as one JSON object, in order.
pub fn claims_json(claims: &[(String, ClaimValue)]) -> Value {
    Value::Object(
        claims
            .iter()
            .map(|(name, value)| (name.clone(), value.to_json()))
            .collect(),
    )
}

/// Named claims from their JSON object; members that are not claim values are dropped.
pub fn claims_from_json(v: Option<&Value>) -> Vec<(String, ClaimValue)> {
    v.and_then(Value::as_object)
        .map(|members| {
            members
                .iter()
                .filter(|(name, _)| !name.is_empty() && name.len() <= 255)
                .filter_map(|(name, value)| Some((name.clone(), ClaimValue::from_json(value)?)))
                .collect()
        })
        .unwrap_or_default()
}
