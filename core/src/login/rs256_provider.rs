//! jsonwebtoken's crypto provider in the `.wasm`: RS256 verification and nothing else.
//!
//! Why not the library's own `rust_crypto` backend: it turns on the `rsa` crate's default
//! features, whose `u64_digit` makes the bignum arithmetic work on 64-bit digits. wasm32 has
//! no 64 × 64 → 128-bit multiply, so every digit product became a call to a software routine,
//! and a login's RS256 verification took about 1.7 × as long as with 32-bit digits (issue 17's
//! benchmark). That backend also links every algorithm it offers (ECDSA, Ed25519, HMAC), which
//! the filter never runs. This provider uses `rsa` without default features (32-bit digits on
//! wasm32) and refuses every algorithm but RS256; native hosts keep aws-lc.
//!
//! It is compiled natively for the unit tests only, so that they check the code the `.wasm`
//! runs against the same tokens the aws-lc backend sees.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{new_error, ErrorKind, Result};
use jsonwebtoken::signature;
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind, EncodingKey};
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

/// The provider: verification of RS256 with keys read from a JWK's `n` and `e`. Signing and
/// the JWK utilities (private keys, thumbprints) are never used by the filter and refuse.
pub static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: refuse_signing,
    verifier_factory: rs256_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: |_| Err(unsupported()),
        rsa_pub_components_from_public_key: |_| Err(unsupported()),
        ec_pub_components_from_private_key: |_, _| Err(unsupported()),
        ed_pub_components_from_private_key: |_, _| Err(unsupported()),
        compute_digest: |_, _| Err(unsupported()),
    },
};

/// Makes [`PROVIDER`] the process's provider, if none is yet. Called before every
/// verification: after the first, it is one atomic load.
pub fn install() {
    // An `Err` only says a provider is installed already, which is the goal.
    let _ = PROVIDER.install_default();
}

fn unsupported() -> jsonwebtoken::errors::Error {
    new_error(ErrorKind::InvalidAlgorithm)
}

fn refuse_signing(_: &Algorithm, _: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Err(unsupported())
}

pub(crate) fn rs256_verifier(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> Result<Box<dyn JwtVerifier>> {
    if *algorithm != Algorithm::RS256 {
        return Err(new_error(ErrorKind::InvalidAlgorithm));
    }
    let DecodingKeyKind::RsaModulusExponent { n, e } = key.kind() else {
        return Err(new_error(ErrorKind::InvalidKeyFormat));
    };
    // `new` checks the modulus size (at most 4096 bits) and the exponent's range.
    let key = RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e))
        .map_err(|_| new_error(ErrorKind::InvalidRsaKey(String::new())))?;
    Ok(Box::new(Rs256Verifier(key)))
}

struct Rs256Verifier(RsaPublicKey);

impl signature::Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> signature::Result<()> {
        let digest = Sha256::digest(message);
        self.0
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
#[path = "../tests/login/rs256_provider.rs"]
mod tests;
