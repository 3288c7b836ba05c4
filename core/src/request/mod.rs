//! One request through the core: what the core does with it (`engine`), the loop every host
//! calls to carry that out (`driver`), what the filter decides for a request (`filter`),
//! which endpoint or path a request is for (`routing`), and the replies the core answers
//! with (`reply`).

pub mod continuation;
pub mod dispatch;
pub mod driver;
pub mod engine;
pub mod filter;
pub mod routing;
