//! One request through the core: the driver every host runs (`engine`), what the filter
//! decides for a request (`filter`), which endpoint or path a request is for (`routing`),
//! and the replies the core answers with (`reply`).

pub mod continuation;
pub mod dispatch;
pub mod engine;
pub mod filter;
pub mod routing;
