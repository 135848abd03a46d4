//! ecs-exporter: a Prometheus exporter for Amazon ECS tasks.
//!
//! The pipeline is `fetch → parse → snapshot → encode`, each stage its own module:
//! [`tmds::client`] reads the task metadata endpoint, [`parse::tmds`] parses it into a typed
//! model, [`collect`] turns the model into a [`snapshot::Snapshot`] using the family table in
//! [`metrics`], and [`encode`] writes Prometheus text or OpenMetrics. [`scrape`] ties one scrape
//! together, [`server`] and [`simulate`] are the HTTP edges, [`app`] wires them up.

pub mod app;
pub mod collect;
pub mod config;
pub mod docs;
pub mod encode;
pub mod logging;
pub mod metrics;
pub mod parse;
pub mod process;
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
