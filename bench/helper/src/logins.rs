//! `bench-helper logins --config JSON --jwks FILE --token JWT --seconds S`: logins per second
//! in a native host, one thread, the JWKS parsed once (as every host caches it): the core's
//! whole token login (`Login::new` + `start`, so header parsing, RS256 through jsonwebtoken's
//! native backend, the claim rules), then, for comparison in the same run, the bare RS256
//! verification with the `rsa` crate that the filter used before (RustCrypto, as in the .wasm).

use std::time::{Duration, Instant};

use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use session_core::config::Config;
use session_core::login::jwks::KeySet;
use session_core::login::{Login, LoginEnv, LoginStep};

fn rate(seconds: f64, mut once: impl FnMut() -> bool) -> Result<f64, String> {
    let deadline = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let mut count = 0u64;
    while start.elapsed() < deadline {
        if !once() {
            return Err("an iteration failed".into());
        }
        count += 1;
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}

fn rsa_crate_key(jwks: &str) -> Option<RsaPublicKey> {
    use base64::Engine;
    let doc: Value = serde_json::from_str(jwks).ok()?;
    let key = doc.get("keys")?.get(0)?;
    let b64 = |name: &str| {
        key.get(name).and_then(Value::as_str).and_then(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v)
                .ok()
        })
    };
    RsaPublicKey::new(
        BigUint::from_bytes_be(&b64("n")?),
        BigUint::from_bytes_be(&b64("e")?),
    )
    .ok()
}

pub fn run(config: &str, jwks: &str, token: &str, seconds: f64) -> Result<String, String> {
    let config = Config::parse(config.as_bytes()).map_err(|e| e.to_string())?;
    let keys = KeySet::parse(jwks.as_bytes())?;
    let header = format!("Bearer {token}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_millis() as u64;
    let env = LoginEnv {
        config: &config,
        keys: Some(&keys),
        now,
    };
    let login = || {
        Login::new(Some(header.as_bytes())).is_ok_and(|mut login| {
            matches!(login.start(&env, &mut |_| false), LoginStep::Create(_))
        })
    };
    let logins = rate(seconds, login)?;

    let key = rsa_crate_key(jwks).ok_or("the JWKS has no RSA key for the rsa crate")?;
    let (input, signature) = token.rsplit_once('.').ok_or("not a JWT")?;
    let signature = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| e.to_string())?
    };
    let verify = || {
        let digest = Sha256::digest(input.as_bytes());
        key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &signature)
            .is_ok()
    };
    let rsa_verifies = rate(seconds, verify)?;
    Ok(serde_json::json!({
        "native_logins_per_s": logins,
        "rsa_crate_verifies_per_s": rsa_verifies,
    })
    .to_string())
}
