use super::*;
use crate::testing::MemHost;

fn device() -> Device {
    Device {
        start: "/device/start".into(),
        poll: "/device/poll".into(),
        client_id: "cli".into(),
        scope: "openid profile email".into(),
        audience: "https://api/".into(),
    }
}

const NOW: Millis = 1_795_426_200_000;
const IDP_ANSWER: &[u8] = br#"{"device_code":"DEV-SECRET","user_code":"ABCD-EFGH","verification_uri":"https://t/activate","expires_in":600,"interval":5}"#;

fn start(host: &MemHost, seed: u8, now: Millis) -> String {
    let reply = started(host, Some(200), IDP_ANSWER, &[seed; 32], now);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        !reply.body.contains("DEV-SECRET"),
        "the device_code stays in the proxy"
    );
    let v: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(v["verification_uri_complete"], "https://t/activate");
    v["handle"].as_str().unwrap().to_string()
}

fn header(handle: &str) -> Vec<u8> {
    format!("Device {handle}").into_bytes()
}

#[test]
fn the_start_body_names_client_scope_and_audience() {
    assert_eq!(
        String::from_utf8(start_body(&device())).unwrap(),
        "client_id=cli&scope=openid%20profile%20email&audience=https%3A%2F%2Fapi%2F"
    );
}

#[test]
fn polls_wait_the_interval_and_exchange_the_device_code() {
    let host = MemHost::default();
    let handle = start(&host, 1, 0);
    let stored: Vec<String> = host
        .data
        .borrow()
        .values()
        .map(|(v, _)| String::from_utf8_lossy(v).into_owned())
        .collect();
    assert!(
        stored.iter().all(|v| !v.contains(&handle)),
        "only the handle's hash is stored"
    );
    assert!(
        matches!(poll(&host, &device(), Some(&header(&handle)), 1_000), Poll::Reply(r) if r.status == 429)
    );
    match poll(&host, &device(), Some(&header(&handle)), 5_000) {
        Poll::Exchange { body, .. } => {
            let body = String::from_utf8(body).unwrap();
            assert!(body.contains("device_code=DEV-SECRET") && body.contains("client_id=cli"));
            assert!(
                body.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(poll(&host, &device(), Some(&header(&handle)), 6_000), Poll::Reply(r) if r.status == 429),
        "the next poll waits again"
    );
}

#[test]
fn every_idp_answer_maps_to_a_status() {
    let host = MemHost::default();
    let handle = start(&host, 2, 0);
    let Poll::Exchange { hash, .. } = poll(&host, &device(), Some(&header(&handle)), 5_000) else {
        panic!()
    };
    let reply = |p: Polled| match p {
        Polled::Reply(r) => (r.status, r.body),
        Polled::Token(t) => (0, t),
    };
    for (error, interval) in [("authorization_pending", 5), ("slow_down", 10)] {
        let body = format!(r#"{{"error":"{error}"}}"#);
        assert_eq!(
            reply(polled(&host, &hash, Some(400), body.as_bytes(), 5_000)),
            (
                200,
                format!(r#"{{"interval":{interval},"status":"pending"}}"#)
            )
        );
    }
    assert_eq!(reply(polled(&host, &hash, None, b"", 5_000)).0, 503);
    assert_eq!(
        reply(polled(
            &host,
            &hash,
            Some(200),
            br#"{"access_token":"AT"}"#,
            5_000
        )),
        (0, "AT".into())
    );
    assert!(
        matches!(poll(&host, &device(), Some(&header(&handle)), 60_000), Poll::Reply(r) if r.status == 404),
        "used once"
    );
    for (status, body, code) in [
        (403, &br#"{"error":"access_denied"}"#[..], 403),
        (400, br#"{"error":"expired_token"}"#, 410),
        (400, br#"{"error":"invalid_grant"}"#, 401),
    ] {
        let handle = start(&host, code as u8, 0);
        let Poll::Exchange { hash, .. } = poll(&host, &device(), Some(&header(&handle)), 5_000)
        else {
            panic!()
        };
        assert_eq!(
            reply(polled(&host, &hash, Some(status), body, 5_000)).0,
            code
        );
        assert!(
            matches!(poll(&host, &device(), Some(&header(&handle)), 60_000), Poll::Reply(r) if r.status == 404)
        );
    }
}

#[test]
fn pending_logins_are_bounded_and_expire() {
    let host = MemHost::default();
    let mut stored = 0;
    for i in 0..(BUCKETS * PER_BUCKET + 500) {
        let mut random = [0u8; 32];
        random[..4].copy_from_slice(&(i as u32).to_le_bytes());
        if started(&host, Some(200), IDP_ANSWER, &random, 0).status == 200 {
            stored += 1;
        }
    }
    assert!(stored <= BUCKETS * PER_BUCKET, "{stored}");
    assert!(host.data.borrow().len() <= BUCKETS);
    // Expired entries are dropped on the next write to their bucket: room again.
    let again = started(&host, Some(200), IDP_ANSWER, &[7; 32], 700_000);
    assert_eq!(again.status, 200);
}

#[test]
fn bad_handles_and_idp_failures() {
    let host = MemHost::default();
    assert!(matches!(poll(&host, &device(), None, 0), Poll::Reply(r) if r.status == 400));
    assert!(
        matches!(poll(&host, &device(), Some(b"Bearer x"), 0), Poll::Reply(r) if r.status == 400)
    );
    assert!(
        matches!(poll(&host, &device(), Some(b"Device nope"), 0), Poll::Reply(r) if r.status == 404)
    );
    assert!(
        matches!(poll(&host, &device(), Some(&header(&"E".repeat(43))), 0), Poll::Reply(r) if r.status == 404)
    );
    for (status, body) in [
        (Some(500), &b""[..]),
        (None, b""),
        (Some(200), b"{}"),
        (Some(200), b"junk"),
    ] {
        assert_eq!(started(&host, status, body, &[1; 32], 0).status, 503);
    }
}

/// Issue 11 item 8: the 8,192 cap was checked after the IdP had been asked for a device code.
#[test]
fn a_full_bucket_is_seen_before_calling_the_idp() {
    let host = MemHost::default();
    let random = [3u8; 32];
    assert!(has_room(&host, &random, NOW));
    let answer = br#"{"device_code": "d", "user_code": "U", "verification_uri": "https://x/", "expires_in": 600}"#;
    // Handles whose hashes fall in the same bucket as `random`'s.
    let bucket = bucket_key(&SessionHash::of_secret(&random));
    let mut filled = 0;
    for n in 0..u16::MAX {
        let mut other = [0u8; 32];
        other[..2].copy_from_slice(&n.to_le_bytes());
        if bucket_key(&SessionHash::of_secret(&other)) != bucket {
            continue;
        }
        assert_eq!(started(&host, Some(200), answer, &other, NOW).status, 200);
        filled += 1;
        if filled == PER_BUCKET {
            break;
        }
    }
    assert!(
        !has_room(&host, &random, NOW),
        "full: refused before any call"
    );
    assert_eq!(full().status, 503);
    assert!(
        has_room(&host, &random, NOW + 600_000),
        "expired entries make room"
    );
}
