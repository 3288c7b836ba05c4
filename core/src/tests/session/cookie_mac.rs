use super::*;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn hmac_matches_rfc_4231() {
    // Test case 2.
    let key = HmacKey::new(b"Jefe");
    assert_eq!(
        hex(&key.tag(b"what do ya want for nothing?")),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    // Test case 6: a key longer than the block.
    let key = HmacKey::new(&[0xaa; 131]);
    assert_eq!(
        hex(&key.tag(b"Test Using Larger Than Block-Size Key - Hash Key First")),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn signed_cookies_round_trip_and_forgeries_fail() {
    let codec = CookieCodec::new(&["k".repeat(32)]);
    let random = [9u8; 32];
    let (secret, hash) = crate::session::new_secret(&random);
    let value = codec.encode(&secret, &random);
    assert_eq!(value.len(), 66);
    assert_eq!(codec.decode(value.as_bytes()), Some(hash));
    assert_eq!(
        codec.decode(secret.as_bytes()),
        None,
        "an unsigned secret is not enough"
    );
    let mut forged = value.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(codec.decode(&forged), None);
    let other = CookieCodec::new(&["x".repeat(32)]);
    assert_eq!(other.decode(value.as_bytes()), None, "another key's cookie");
    for junk in [&b""[..], b".", &[b'A'; 66], &value.as_bytes()[..65]] {
        assert_eq!(codec.decode(junk), None);
    }
}

#[test]
fn rotation_keeps_old_cookies_valid() {
    let random = [3u8; 32];
    let (secret, hash) = crate::session::new_secret(&random);
    let old = CookieCodec::new(&["old".repeat(11)]).encode(&secret, &random);
    let rotated = CookieCodec::new(&["new".repeat(11), "old".repeat(11)]);
    assert_eq!(rotated.decode(old.as_bytes()), Some(hash));
    assert_ne!(
        rotated.encode(&secret, &random),
        old,
        "new cookies use the new key"
    );
}

#[test]
fn without_keys_the_cookie_is_the_secret() {
    let codec = CookieCodec::default();
    let random = [5u8; 32];
    let (secret, hash) = crate::session::new_secret(&random);
    assert_eq!(codec.encode(&secret, &random), secret);
    assert_eq!(codec.decode(secret.as_bytes()), Some(hash));
}
