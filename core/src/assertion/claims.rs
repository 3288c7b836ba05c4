//! What the assertion says of its user: [`claims_of`] reads them from the session record. It
//! is the one place that decides them, identity enrichment's `email_verified` and `groups`
//! included (the cache compares claims as this module builds them, so a changed claim
//! re-signs).

use serde_json::{Map, Value};

use crate::identity::list_items;
use crate::session::RecordView;

/// The user's claims as the record holds them, borrowed in place: building and comparing
/// them on every request allocates nothing. Strings are the record's bytes (UTF-8 checked at
/// login); lists are space-separated items (see [`list_items`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claims<'a> {
    pub sub: &'a [u8],
    pub email: Option<&'a [u8]>,
    /// Absent unless an identity API said it (enrichment): never asserted as true otherwise.
    pub email_verified: Option<bool>,
    pub name: Option<&'a [u8]>,
    pub permissions: &'a [u8],
    pub roles: &'a [u8],
    /// Absent unless an identity API gave some (enrichment).
    pub groups: Option<&'a [u8]>,
}

/// The one place the assertion's user claims come from.
pub fn claims_of<'a>(record: &RecordView<'a>) -> Claims<'a> {
    let [sub, email, name, ..] = record.strings();
    let [permissions, roles, groups] = record.lists();
    let present = |b: &'a [u8]| (!b.is_empty()).then_some(b);
    Claims {
        sub,
        email: present(email),
        email_verified: record.email_verified(),
        name: present(name),
        permissions,
        roles,
        groups: present(groups),
    }
}

/// An owned copy of [`Claims`], kept with a cached assertion to tell whether it still says
/// what the record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedClaims {
    sub: Vec<u8>,
    email: Option<Vec<u8>>,
    email_verified: Option<bool>,
    name: Option<Vec<u8>>,
    permissions: Vec<u8>,
    roles: Vec<u8>,
    groups: Option<Vec<u8>>,
}

impl OwnedClaims {
    pub fn of(c: &Claims<'_>) -> OwnedClaims {
        OwnedClaims {
            sub: c.sub.to_vec(),
            email: c.email.map(<[u8]>::to_vec),
            email_verified: c.email_verified,
            name: c.name.map(<[u8]>::to_vec),
            permissions: c.permissions.to_vec(),
            roles: c.roles.to_vec(),
            groups: c.groups.map(<[u8]>::to_vec),
        }
    }

    pub fn view(&self) -> Claims<'_> {
        Claims {
            sub: &self.sub,
            email: self.email.as_deref(),
            email_verified: self.email_verified,
            name: self.name.as_deref(),
            permissions: &self.permissions,
            roles: &self.roles,
            groups: self.groups.as_deref(),
        }
    }
}

/// Who signs, for whom, which session, and when: the registered claims around the user's.
pub struct Envelope<'a> {
    pub iss: &'a str,
    pub aud: &'a str,
    /// The session's public id (the one a user's list of sessions shows), never its secret
    /// nor the hash sessions are looked up by.
    pub sid: &'a str,
    /// Seconds since the epoch.
    pub iat: u64,
    pub exp: u64,
}

/// The JWT payload: the envelope and the user's claims; an absent claim is left out rather
/// than sent as null or empty (except the lists, which are always arrays).
pub fn payload(claims: &Claims<'_>, envelope: &Envelope<'_>) -> Vec<u8> {
    let text = |b: &[u8]| Value::String(String::from_utf8_lossy(b).into_owned());
    let list = |b: &[u8]| Value::Array(list_items(b).map(text).collect());
    let mut out = Map::new();
    out.insert("iss".into(), envelope.iss.into());
    out.insert("aud".into(), envelope.aud.into());
    out.insert("sub".into(), text(claims.sub));
    if let Some(email) = claims.email {
        out.insert("email".into(), text(email));
    }
    if let Some(verified) = claims.email_verified {
        out.insert("email_verified".into(), verified.into());
    }
    if let Some(name) = claims.name {
        out.insert("name".into(), text(name));
    }
    out.insert("permissions".into(), list(claims.permissions));
    out.insert("roles".into(), list(claims.roles));
    if let Some(groups) = claims.groups {
        out.insert("groups".into(), list(groups));
    }
    out.insert("sid".into(), envelope.sid.into());
    out.insert("iat".into(), envelope.iat.into());
    out.insert("exp".into(), envelope.exp.into());
    Value::Object(out).to_string().into_bytes()
}
