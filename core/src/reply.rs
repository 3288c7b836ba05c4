//! Local answers (docs/ARCHITECTURE.md §4): JSON bodies with a stable `error` code, never echoing a token,
//! never cached.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn json(status: u32, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn error(status: u32, code: &str, message: &str) -> Reply {
        Reply::json(status, &json!({ "error": code, "message": message }))
    }

    /// A 302 that browsers follow; never cached.
    pub fn redirect(location: &str) -> Reply {
        Reply {
            status: 302,
            headers: vec![
                ("location".into(), location.to_string()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: String::new(),
        }
    }

    pub fn unauthorized() -> Reply {
        Reply::error(401, "unauthorized", "no valid session")
    }

    pub fn invalid_token(message: &str) -> Reply {
        Reply::error(401, "invalid_token", message)
            .with_header("www-authenticate", "Bearer error=\"invalid_token\"")
    }

    pub fn insufficient_scope(message: &str) -> Reply {
        Reply::error(403, "insufficient_scope", message)
            .with_header("www-authenticate", "Bearer error=\"insufficient_scope\"")
    }

    pub fn idp_unavailable(message: &str) -> Reply {
        Reply::error(503, "idp_unavailable", message).with_header("retry-after", "5")
    }

    pub fn store_unavailable() -> Reply {
        Reply::error(
            503,
            "session_store_unavailable",
            "the session store is busy; try again",
        )
        .with_header("retry-after", "1")
    }

    pub fn method_not_allowed() -> Reply {
        Reply::error(405, "method_not_allowed", "use GET or POST").with_header("allow", "GET, POST")
    }
}
