use super::*;
use crate::testing::MemHost;

fn hash(n: u8) -> SessionHash {
    // Same token bucket for every n (bytes 2-3 equal), distinct sessions.
    let mut h = [0u8; 16];
    h[0] = n;
    h[15] = n;
    SessionHash(h)
}

#[test]
fn a_token_is_kept_until_removed_and_replaced_by_a_new_one() {
    let host = MemHost::default();
    put(&host, &hash(1), b"tok-1", 5_000, 1_000).unwrap();
    put(&host, &hash(2), b"tok-2", 6_000, 1_000).unwrap();
    assert_eq!(get(&host, &hash(1)).unwrap().token, b"tok-1");
    put(&host, &hash(1), b"tok-1b", 7_000, 1_000).unwrap();
    let stored = get(&host, &hash(1)).unwrap();
    assert_eq!(
        (stored.token.as_slice(), stored.expires),
        (&b"tok-1b"[..], 7_000)
    );
    remove(&host, &hash(1), 1_000).unwrap();
    assert_eq!(get(&host, &hash(1)), None);
    assert_eq!(get(&host, &hash(2)).unwrap().token, b"tok-2");
    assert!(
        !format!("{stored:?}").contains("tok"),
        "Debug never shows the token"
    );
}

#[test]
fn writes_drop_expired_tokens() {
    let host = MemHost::default();
    put(&host, &hash(1), b"old", 2_000, 1_000).unwrap();
    put(&host, &hash(2), b"new", 9_000, 3_000).unwrap();
    assert_eq!(get(&host, &hash(1)), None);
    remove(&host, &hash(9), 10_000).unwrap();
    assert_eq!(
        get(&host, &hash(2)),
        None,
        "a removal drops what expired too"
    );
}

#[test]
fn a_bucket_stays_bounded_dropping_what_expires_soonest() {
    let host = MemHost::default();
    let token = vec![b'x'; MAX_TOKEN_BYTES];
    let fit = MAX_BUCKET_BYTES / (ENTRY_OVERHEAD + MAX_TOKEN_BYTES);
    for n in 0..=fit as u8 {
        put(&host, &hash(n), &token, 10_000 + u64::from(n), 0).unwrap();
    }
    let (body, _) = host.get(&bucket_key(&hash(0)));
    assert!(body.unwrap().len() <= MAX_BUCKET_BYTES);
    assert_eq!(get(&host, &hash(0)), None, "the soonest to expire went");
    assert!(get(&host, &hash(fit as u8)).is_some());
}

#[test]
fn oversized_and_empty_tokens_are_refused() {
    let host = MemHost::default();
    let long = vec![b'x'; MAX_TOKEN_BYTES + 1];
    assert_eq!(put(&host, &hash(1), &long, 9, 0), Err(PutError::TooLong));
    assert_eq!(put(&host, &hash(1), b"", 9, 0), Err(PutError::TooLong));
    assert!(host.data.borrow().is_empty());
}

#[test]
fn a_truncated_bucket_reads_as_no_token() {
    let host = MemHost::default();
    put(&host, &hash(1), b"token", 9_000, 0).unwrap();
    let key = bucket_key(&hash(1));
    let (body, cas) = host.get(&key);
    let mut body = body.unwrap();
    body.truncate(body.len() - 1);
    host.set(&key, &body, cas).unwrap();
    assert_eq!(get(&host, &hash(1)), None);
}
