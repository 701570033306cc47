//! One handler module per resource. Each turns a routed request into a response
//! or an [`ApiError`](crate::ApiError), using the leaf helpers of
//! [`edge`](crate::edge).

pub mod actions;
pub mod activations;
pub mod admin;
pub mod assets;
pub mod feeds;
pub mod invoke;
pub mod kv;
pub mod metrics;
pub mod rules;
pub mod sequences;
pub mod triggers;
pub mod ui;
pub mod versions;
pub mod web;
