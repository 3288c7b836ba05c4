//! Checks of names that both the configuration and the rules apply. A leaf: it imports
//! nothing from the crate, so that `config` (which holds the rules) and `policy` (which
//! checks them) can share it without importing each other.

/// RFC 7230 token characters: what a cookie or header name, or an HTTP method, may be made of.
pub(crate) fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
