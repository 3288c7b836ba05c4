//! The one read-modify-write every writer of shared data uses (sessions, the per-user index,
//! the dirty map, the device table, the rate limiter). Shared data is one map per VM id with
//! compare-and-swap and no delete; writers on other workers race us, so an edit is computed
//! from what was read and written back only if nobody wrote in between, else read again.
//! A leaf: it imports nothing of the crate but the port.

pub use crate::ports::{SetError, SharedData};

/// Read-modify-write attempts before giving up (and failing closed).
pub const CAS_RETRIES: usize = 8;

/// Shared data inserts a missing key whatever CAS is given, and CAS 0 overwrites. Writing a
/// key we saw missing with this CAS means: if someone created it meanwhile, mismatch and
/// retry, rather than overwriting what they wrote.
pub const CAS_MISSING: u32 = u32::MAX;

/// What an edit decided after reading the key.
pub enum Write<T> {
    /// Write these bytes back (under the CAS of the read), then answer `T`.
    Set(Vec<u8>, T),
    /// Write nothing; answer `T` now.
    Keep(T),
}

/// Why an update wrote nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateError {
    /// Other writers won every one of [`CAS_RETRIES`] attempts.
    Contended,
    /// The host refused the write (a bad argument: trying again would repeat it).
    Host,
}

/// Reads `key`, hands its value and CAS to `edit`, and writes back what `edit` decides,
/// reading again whenever another writer got in first. `edit` runs once per attempt, so it
/// must compute from what it is given, not from state it changed in an earlier attempt.
/// An `Err` from `edit` stops at once and is returned as is.
pub fn update<T, E: From<UpdateError>>(
    host: &dyn SharedData,
    key: &str,
    mut edit: impl FnMut(Option<&[u8]>, Option<u32>) -> Result<Write<T>, E>,
) -> Result<T, E> {
    for _ in 0..CAS_RETRIES {
        let (value, cas) = host.get(key);
        match edit(value.as_deref(), cas)? {
            Write::Keep(answer) => return Ok(answer),
            Write::Set(bytes, answer) => {
                match host.set(key, &bytes, Some(cas.unwrap_or(CAS_MISSING))) {
                    Ok(()) => return Ok(answer),
                    Err(SetError::CasMismatch) => continue,
                    Err(SetError::Host) => return Err(UpdateError::Host.into()),
                }
            }
        }
    }
    Err(UpdateError::Contended.into())
}
