//! A load generator for the three serverless access patterns wisp is measured with:
//!
//! - **SCMA** (Single Client, Multiple Access): one client calls the URL many times,
//!   each call starting as soon as the previous one has finished;
//! - **MCSA** (Multiple Client, Single Access): many clients call it once each, their
//!   start times spread evenly over a ramp-up;
//! - **MCMA** (Multiple Client, Multiple Access): many clients call it several times
//!   each (one after the other within a client), start times spread over the ramp.
//!
//! A [`Plan`] says what to run; [`Plan::schedule`] turns it into client start times;
//! [`run`] executes it and returns a [`Report`] with one [`CallRecord`] per planned
//! call and a [`Summary`]. Every client has its own HTTP/1.1 connection (kept alive
//! between its own calls), so a new client pays for its connection as a new device
//! would, and every call carries `X-Client-Id: <run-id>-<client>`.
//!
//! Only the plan's URL is contacted; redirects are not followed.

mod duration;
mod plan;
mod report;
mod run;

pub use duration::parse_duration;
pub use plan::{
    ClientStart, LoadPattern, MAX_CALLS, MAX_CLIENTS, MAX_DURATION, MAX_TIMEOUT, Pattern, Plan,
};
pub use report::{
    CallRecord, ErrorKind, Latency, Report, Summary, summarize, write_csv, write_json, write_table,
};
pub use run::run;
pub use wisp_api::CLIENT_ID_HEADER;
