//! Which session buckets hold records the sidecar has not heard of: one bit per bucket in a
//! single shared-data key (512 bytes), so the sync timer finds them without reading all 4,096.
//!
//! Ordering that keeps a bit from being lost: a writer first makes a record dirty in its
//! bucket, then sets the bucket's bit. The sync first clears the bit, then rewrites the
//! bucket, then sets the bit again if dirty records remain. Either the sync's rewrite sees
//! the writer's dirty record, or the writer's bit-set comes after the sync's clear.
//! Should a bit still go missing (a CAS given up on), the sweep re-marks dirty buckets.

use crate::session::layout::BUCKETS;
use crate::shared_data::{update, SharedData, UpdateError, Write};

const KEY: &str = "auth0_session/dirty";
const BYTES: usize = BUCKETS / 8;

fn set_bit(host: &dyn SharedData, index: usize, set: bool) -> bool {
    let (byte, bit) = (index / 8 % BYTES, 1u8 << (index % 8));
    update(host, KEY, |value, _| {
        let mut map = value.map(<[u8]>::to_vec).unwrap_or_default();
        map.resize(BYTES, 0);
        if (map[byte] & bit != 0) == set {
            return Ok::<_, UpdateError>(Write::Keep(()));
        }
        if set {
            map[byte] |= bit;
        } else {
            map[byte] &= !bit;
        }
        Ok(Write::Set(map, ()))
    })
    .is_ok()
}

pub fn mark(host: &dyn SharedData, index: usize) -> bool {
    set_bit(host, index, true)
}

pub fn clear(host: &dyn SharedData, index: usize) -> bool {
    set_bit(host, index, false)
}

/// The buckets marked dirty, in index order.
pub fn marked(host: &dyn SharedData) -> Vec<usize> {
    let (value, _) = host.get(KEY);
    let map = value.unwrap_or_default();
    (0..BUCKETS.min(map.len() * 8))
        .filter(|i| map[i / 8] & (1 << (i % 8)) != 0)
        .collect()
}

#[cfg(test)]
#[path = "../tests/session/dirty.rs"]
mod tests;
