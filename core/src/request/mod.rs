//! What a request is to the core: which flow or endpoint it is for (`routing`, and its
//! explanation for operators, `explain`), and the configured filter every flow reads with
//! the header edits a flow hands back (`filter`). The engine that runs the flows is
//! [`crate::engine`].

pub mod explain;
pub mod filter;
pub mod routing;
