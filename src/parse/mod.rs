//! Parse: upstream bodies → the typed model. [`tmds`] is the model every source yields (the
//! task metadata endpoint's `/task` and `/task/stats` shapes: the Docker stats JSON is the
//! `/task/stats` entry shape); [`agent`] and [`docker`] read the ECS agent's introspection API
//! and the Docker Engine API, whose answers the host sources turn into that model. All of it is
//! lenient ([`lenient`]): an odd field reads as absent, never as a failed document.

pub mod agent;
pub mod docker;
pub mod json;
pub mod lenient;
pub mod tmds;

/// A body as text for the [`json`] reader: checked to be UTF-8 once, whole. Bytes that are not
/// UTF-8 read as U+FFFD, as Prometheus label values must be UTF-8 anyway: the odd byte costs one
/// character, not the container.
pub fn text(body: &[u8]) -> std::borrow::Cow<'_, str> {
    // from_utf8 first: its check is several times faster than the lossy one's.
    match std::str::from_utf8(body) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(body),
    }
}

/// Read `body` ([`text`]) as `T`.
pub fn read<T: json::FromJson>(body: &[u8]) -> Result<T, json::Error> {
    json::from_str(&text(body))
}
