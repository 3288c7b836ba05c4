//! What an identity API's answer makes of the session: the configured JSON Pointers
//! (RFC 6901, as `serde_json::Value::pointer` reads them: `~1` is `/`, `~0` is `~`) read
//! through their transforms into the identity, and the confirmations checked. Pure: no
//! host, no state.

use serde_json::Value;

use crate::config::{Confirm, Mapping, Target, Transform};
use crate::identity::{is_list_item, is_short_text, ClaimValue, Identity};

/// What one mapping read from an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    Text(String),
    List(Vec<String>),
    Flag(bool),
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The value a mapping reads from `answer`; `None` when the pointer finds nothing of the
/// shape its transform reads (the field is then left as it was).
pub fn read(m: &Mapping, answer: &Value) -> Option<Read> {
    let at = answer.pointer(&m.pointer)?;
    let prefixed = |s: String| match &m.prefix {
        Some(p) => format!("{p}{s}"),
        None => s,
    };
    match m.transform {
        Transform::Value => text_of(at).map(prefixed).map(Read::Text),
        Transform::Boolean => at.as_bool().map(Read::Flag),
        Transform::Keys => Some(Read::List(
            at.as_object()?.keys().cloned().map(prefixed).collect(),
        )),
        Transform::Values => Some(Read::List(
            at.as_array()?
                .iter()
                .filter_map(|item| match &m.each {
                    Some(each) => item.pointer(each),
                    None => Some(item),
                })
                .filter_map(text_of)
                .map(prefixed)
                .collect(),
        )),
    }
}

fn add_items(list: &mut Vec<String>, items: Vec<String>) {
    for item in items {
        if is_list_item(&item) && !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Applies every mapping to the identity. Roles and groups are added to; `name`,
/// `email_verified` and named claims are replaced. Values that break the session's bounds
/// (a control character, an over-long text, an item with a space) are left out.
pub fn apply(map: &[Mapping], answer: &Value, identity: &mut Identity) {
    for m in map {
        let Some(value) = read(m, answer) else {
            continue;
        };
        match (&m.target, value) {
            (Target::Roles, Read::List(items)) => add_items(&mut identity.roles, items),
            (Target::Roles, Read::Text(item)) => add_items(&mut identity.roles, vec![item]),
            (Target::Groups, Read::List(items)) => add_items(&mut identity.groups, items),
            (Target::Groups, Read::Text(item)) => add_items(&mut identity.groups, vec![item]),
            (Target::EmailVerified, Read::Flag(b)) => identity.email_verified = Some(b),
            (Target::Name, Read::Text(name)) if is_short_text(&name) => identity.name = Some(name),
            (Target::Claim(name), value) => {
                let value = match value {
                    Read::Text(t) if is_short_text(&t) => ClaimValue::Text(t),
                    Read::Text(_) => continue,
                    Read::Flag(b) => ClaimValue::Flag(b),
                    Read::List(items) => {
                        ClaimValue::List(items.into_iter().filter(|i| is_list_item(i)).collect())
                    }
                };
                identity.claims.retain(|(n, _)| n != name);
                identity.claims.push((name.clone(), value));
                identity.claims.sort_by(|a, b| a.0.cmp(&b.0));
            }
            // The configuration pairs targets with transforms that fill them.
            _ => {}
        }
    }
}

/// The first confirmation the answer fails, or `None` when it meets all.
pub fn unconfirmed<'a>(
    confirm: &'a [Confirm],
    answer: &Value,
    identity: &Identity,
) -> Option<&'a Confirm> {
    confirm.iter().find(|c| match c {
        Confirm::True(pointer) => answer.pointer(pointer) != Some(&Value::Bool(true)),
        Confirm::SameEmail(pointer) => {
            let theirs = answer.pointer(pointer).and_then(Value::as_str);
            match (theirs, &identity.email) {
                (Some(theirs), Some(ours)) => !theirs.eq_ignore_ascii_case(ours),
                _ => true,
            }
        }
    })
}
