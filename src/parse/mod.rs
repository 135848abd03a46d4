//! Parse: upstream bodies → the typed model. [`tmds`] is the model every source yields (the
//! task metadata endpoint's `/task` and `/task/stats` shapes: the Docker stats JSON is the
//! `/task/stats` entry shape); [`agent`] and [`docker`] read the ECS agent's introspection API
//! and the Docker Engine API, whose answers the host sources turn into that model. All of it is
//! lenient ([`lenient`]): an odd field reads as absent, never as a failed document.

pub mod agent;
pub mod docker;
pub mod lenient;
pub mod tmds;
