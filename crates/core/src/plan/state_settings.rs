//! `[state]`: where the plan's runs keep their journals, locks and reports.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    duration::serde_human,
    error::{Error, Result},
};

/// Where runs keep their state, and the lease that locks them there (`[state]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct StateSettings {
    /// Where runs keep their state: `s3://bucket/prefix`, `gs://bucket/prefix`,
    /// `az://container/prefix`, or a folder; must not be empty. `--state` and `AEGIS_STATE`
    /// override it. Default: the `.aegis` folder beside the plan.
    pub url: Option<String>,
    /// In an object store, how long the run lock and the controller's leadership last without a
    /// renewal (renewed every third of it), a duration from `1s` to `10m`. A run that cannot renew
    /// it stops starting steps; a run killed with it held blocks the plan for at most this long.
    /// Default: `30s`.
    #[serde(with = "serde_human")]
    #[schemars(with = "crate::duration::HumanDuration")]
    pub lease: Duration,
}

impl Default for StateSettings {
    fn default() -> Self {
        StateSettings {
            url: None,
            lease: Duration::from_secs(30),
        }
    }
}

/// Checks `[state]`.
pub(super) fn state(s: StateSettings) -> Result<StateSettings> {
    if s.lease < Duration::from_secs(1) || s.lease > Duration::from_secs(600) {
        return Err(Error::config(format!(
            "state.lease: {} s is out of range: between 1 s and 10 min",
            s.lease.as_secs_f64()
        )));
    }
    if s.url.as_deref().is_some_and(|u| u.trim().is_empty()) {
        return Err(Error::config(
            "state.url: empty; name a bucket (`s3://bucket/prefix`) or a folder, or leave it out",
        ));
    }
    Ok(s)
}
