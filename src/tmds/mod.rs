//! The ECS task metadata endpoint (TMDS): the typed model of its bodies and the client that
//! reads them.

pub mod client;
pub mod lenient;
pub mod model;
