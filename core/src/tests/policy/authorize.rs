//! Rules applied to sessions by the filter: what a live, restored or absent session gets.

use serde_json::{json, Value};

use crate::config::Config;
use crate::identity::Identity;
use crate::metrics::Metric;
use crate::protected::Decision;
use crate::request::filter::{Filter, HeaderEdit};
use crate::request::routing::{Access, Route};
use crate::session::create::{Answer, Landing};
use crate::session::store;
use crate::session::sync::{session_json, RecentMisses};
use crate::session::{encode_record, Session, SessionHash};
use crate::testing::{MemHost, AUDIENCE};
use crate::time::Millis;

const NOW: Millis = 1_795_426_200_000;

fn filter(sidecar: bool) -> Filter {
    let mut c = Config::parse(
        json!({
            "auth0": {"domain": "tenant.test", "api": {"identifier": AUDIENCE}, "cluster": "auth0",
                      "roles_claim": "https://app.example/roles"},
            "headers": {"x-auth-user": "sub", "x-auth-permissions": "permissions", "x-auth-roles": "roles"},
            "rules": [
                {"path": "/admin/", "allow": {"roles": ["admin", "ops"]}},
                {"path": "/api/", "methods": ["POST"], "allow": {"permissions": ["read:data", "write:data"]}},
                {"path": "/api/", "allow": {"permissions": ["read:data"]}}
            ]
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    if sidecar {
        c.sidecar = Some(crate::testing::sidecar());
    }
    Filter::new(c)
}

fn reader() -> Identity {
    Identity {
        sub: "auth0|reader".into(),
        permissions: vec!["openid".into(), "read:data".into()],
        roles: vec!["viewer".into()],
        ..Default::default()
    }
}

fn login(f: &Filter, host: &MemHost, identity: Identity) -> String {
    let reply = match f
        .sessions()
        .create_session(host, identity, &[9; 32], NOW, Landing::Json)
    {
        Answer::Now(reply) => reply,
        Answer::AfterSync(wt) => f.sessions().written_through(host, wt, true, NOW),
    };
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    format!("session={}", body["value"].as_str().unwrap())
}

fn access(f: &Filter, method: &str, path: &str) -> Access {
    match f.route(path.as_bytes(), || method.as_bytes().to_vec()) {
        Route::Protected(access) => access,
        other => panic!("{method} {path}: {other:?}"),
    }
}

fn decide<'a>(
    f: &'a Filter,
    host: &MemHost,
    cookie: &str,
    method: &str,
    path: &str,
) -> Decision<'a> {
    let a = access(f, method, path);
    f.protected_by(
        host,
        Some(cookie.as_bytes()),
        NOW + 1_500,
        &RecentMisses::default(),
        a,
    )
}

fn status(decision: &Decision<'_>) -> u32 {
    match decision {
        Decision::Forward(_) => 200,
        Decision::Reply(r) => r.status,
        Decision::Unauthenticated | Decision::Reauthenticate => 401,
        Decision::Restore(_) => 0,
    }
}

#[test]
fn a_session_reaches_what_its_permissions_and_roles_allow() {
    let f = filter(false);
    let host = MemHost::default();
    let reader = login(&f, &host, reader());
    let table = [
        ("GET", "/api/data", 200),
        ("HEAD", "/api/data", 200),
        ("POST", "/api/data", 403),
        ("GET", "/admin/", 403),
        ("GET", "/elsewhere", 200),
    ];
    for (method, path, expected) in table {
        assert_eq!(
            status(&decide(&f, &host, &reader, method, path)),
            expected,
            "{method} {path}"
        );
    }
    assert_eq!(host.count_of(Metric::Forbidden), 2);
    for (method, path) in [("GET", "/api/data"), ("GET", "/admin/")] {
        let a = access(&f, method, path);
        assert_eq!(
            f.protected_by(&host, None, NOW, &RecentMisses::default(), a),
            Decision::Unauthenticated,
            "no session: 401 (or the login redirect), never 403"
        );
    }
}

#[test]
fn a_refusal_names_what_is_missing_and_does_not_slide_the_session() {
    let f = filter(false);
    let host = MemHost::default();
    let reader = login(&f, &host, reader());
    let hash = |host: &MemHost| {
        store::lookup(host, &only_hash(host), NOW)
            .unwrap()
            .record()
            .idle_deadline()
    };
    let before = hash(&host);
    let Decision::Reply(reply) = decide(&f, &host, &reader, "POST", "/api/data") else {
        panic!("expected a 403");
    };
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["error"], "insufficient_permissions");
    assert_eq!(body["missing"], json!({"permissions": ["write:data"]}));
    let Decision::Reply(reply) = decide(&f, &host, &reader, "GET", "/admin/x") else {
        panic!("expected a 403");
    };
    let body: Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(body["missing"], json!({"one_of_roles": ["admin", "ops"]}));
    assert_eq!(hash(&host), before, "a refused request is not activity");
    assert!(matches!(
        decide(&f, &host, &reader, "GET", "/api/x"),
        Decision::Forward(_)
    ));
    assert!(
        hash(&host) > before,
        "an allowed one slides the idle window"
    );
}

fn only_hash(host: &MemHost) -> SessionHash {
    let data = host.data.borrow();
    let (_, (bucket, _)) = data.iter().find(|(k, _)| k.contains("sessions")).unwrap();
    let record = crate::session::records(&bucket[1..]).next().unwrap();
    SessionHash(record.hash().try_into().unwrap())
}

#[test]
fn permissions_and_roles_are_forwarded_when_headers_ask_for_them() {
    let f = filter(false);
    let host = MemHost::default();
    let mut admin = reader();
    admin.roles = vec!["admin".into()];
    let cookie = login(&f, &host, admin);
    let Decision::Forward(edits) = decide(&f, &host, &cookie, "GET", "/admin/") else {
        panic!("admin reaches /admin/");
    };
    assert!(edits.contains(&HeaderEdit::Set(
        "x-auth-permissions",
        b"openid read:data"[..].into()
    )));
    assert!(edits.contains(&HeaderEdit::Set("x-auth-roles", b"admin"[..].into())));
    let mut none = reader();
    none.permissions.clear();
    none.roles.clear();
    let host = MemHost::default();
    let cookie = login(&f, &host, none);
    let Decision::Forward(edits) = decide(&f, &host, &cookie, "GET", "/elsewhere") else {
        panic!();
    };
    assert!(
        edits.contains(&HeaderEdit::Remove("x-auth-permissions")),
        "never a client's value"
    );
    assert!(edits.contains(&HeaderEdit::Remove("x-auth-roles")));
}

#[test]
fn a_restored_session_keeps_its_permissions_and_roles() {
    let f = filter(true);
    let host = MemHost::default();
    let reader_identity = reader();
    let cookie = login(&f, &host, reader_identity.clone());
    let session = store::lookup(&host, &only_hash(&host), NOW)
        .unwrap()
        .record()
        .to_session();
    assert_eq!(session.identity.permissions, reader_identity.permissions);
    let body = session_json(&session).to_string();
    for (method, path, expected) in [("GET", "/api/data", 200), ("POST", "/api/data", 403)] {
        let restarted = MemHost::default();
        let mut misses = RecentMisses::default();
        let Decision::Restore(pending) = decide(&f, &restarted, &cookie, method, path) else {
            panic!("{method} {path}: expected a restore");
        };
        let decision = f.restored(
            &restarted,
            pending,
            Some(200),
            body.as_bytes(),
            NOW + 1_500,
            &mut misses,
        );
        assert_eq!(
            status(&decision),
            expected,
            "{method} {path} after a restore"
        );
    }
}

/// The memory a session costs grows with what it carries: a typical Auth0 session with ten
/// permissions and two roles stays within 320 bytes of shared data.
#[test]
fn a_session_with_ten_permissions_stays_within_its_memory_budget() {
    let session = Session::new(
        SessionHash([1; 16]),
        Identity {
            sub: "auth0|65f0c1e2a3b4c5d6e7f80912".into(),
            email: Some("alice.liddell@example.com".into()),
            name: Some("Alice Liddell".into()),
            sid: Some("Zk3vXq0Wb8mN2pL5rT7yU9iO1aS4dF6g".into()),
            permissions: (0..10).map(|i| format!("read:data{i}")).collect(),
            roles: vec!["admin".into(), "ops".into()],
            ..Identity::default()
        },
        NOW,
        60_000,
        3_600_000,
    );
    let mut bytes = Vec::new();
    encode_record(&session, 0, &mut bytes);
    assert!(bytes.len() <= 320, "{} bytes", bytes.len());
}
