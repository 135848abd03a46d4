//! ecs-exporter: a Prometheus exporter for Amazon ECS tasks and hosts.
//!
//! The pipeline is `source → parse → collect → snapshot → encode`, each stage its own module:
//! [`source`] reads the upstream (the task metadata endpoint of a sidecar, or in host mode the
//! agent introspection API and the Docker Engine, a Managed Instances daemon's `/tasks`, or a
//! plain Docker host; [`source::http`] is the client), [`parse`] turns the answers into one typed
//! model ([`parse::tmds`], [`parse::agent`], [`parse::docker`]), [`collect`] turns the model into
//! a [`snapshot::Snapshot`] using the family table in [`metrics`], and [`encode`] writes
//! Prometheus text or OpenMetrics. [`scrape`] ties one scrape together, [`server`] and
//! [`simulate`] are the HTTP edges, [`app`] wires them up.

pub mod app;
pub mod collect;
pub mod config;
pub mod docs;
pub mod encode;
pub mod logging;
pub mod metrics;
pub mod parse;
pub mod process;
pub mod push;
pub mod scrape;
pub mod server;
pub mod simulate;
pub mod snapshot;
pub mod source;
pub mod timefmt;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "web-config")]
pub mod webconfig;
