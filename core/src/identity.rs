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
    /// Roles granted at login (the claim named by `auth0.roles_claim`), for route rules.
    pub roles: Vec<String>,
}

/// `sub` (required) and the optional `email` and `name` of a claims or userinfo object.
pub fn identity_from(claims: &Value) -> Option<Identity> {
    let short = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            // Control characters could split the identity header they are copied into.
            .filter(|v| {
                !v.is_empty() && v.len() <= MAX_CLAIM_BYTES && !v.contains(char::is_control)
            })
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
