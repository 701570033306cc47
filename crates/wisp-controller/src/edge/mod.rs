//! The HTTP edge's leaf helpers, which every handler uses and which use no
//! handler: responses ([`respond`]), what a request carries ([`extract`]) and who
//! sent it ([`authn`]), and the request's id ([`request_id`]).

pub mod authn;
pub mod extract;
pub mod request_id;
pub mod respond;
