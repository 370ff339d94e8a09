//! Logs: `tracing` events of the library to stderr, at `--log-level` and/or as `RUST_LOG` says,
//! as text or JSON lines. Without either, nothing is logged (the CLI's own output says what happened).

use aegis_dr::Error;
use tracing::level_filters::LevelFilter;
use tracing_subscriber::{filter::Targets, layer::SubscriberExt, util::SubscriberInitExt, Layer};

use crate::args::{LogFormat, LogLevel};

impl From<LogLevel> for LevelFilter {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// The filter `--log-level` and `RUST_LOG` make together (`RUST_LOG`'s per-module directives over
/// the level), or `None` when neither asks for logs.
pub fn filter(level: Option<LogLevel>, rust_log: Option<&str>) -> Result<Option<Targets>, Error> {
    let rust_log = rust_log.map(str::trim).filter(|s| !s.is_empty());
    let mut targets = match rust_log {
        Some(spec) => spec
            .parse::<Targets>()
            .map_err(|e| Error::config(format!("RUST_LOG: `{spec}`: {e}")))?,
        None if level.is_some() => Targets::new(),
        None => return Ok(None),
    };
    if let Some(l) = level {
        targets = targets.with_default(LevelFilter::from(l));
    }
    Ok(Some(targets))
}

/// Installs the subscriber for `filter`, writing `format` lines to stderr.
pub fn init(filter: Targets, format: LogFormat) {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let layer = match format {
        LogFormat::Text => layer.boxed(),
        LogFormat::Json => layer.json().with_current_span(true).boxed(),
    };
    // An embedding test harness may have installed one already: keep it.
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_and_rust_log_combine_and_a_bad_rust_log_is_named() {
        assert!(filter(None, None).expect("ok").is_none());
        assert!(filter(None, Some("  ")).expect("ok").is_none());
        let t = filter(Some(LogLevel::Info), Some("aegis_dr_core::layer=debug"))
            .expect("ok")
            .expect("logs");
        assert!(t.would_enable("aegis_dr_core::layer", &tracing::Level::DEBUG));
        assert!(t.would_enable("aegis_dr_core::orchestrator", &tracing::Level::INFO));
        assert!(!t.would_enable("aegis_dr_core::orchestrator", &tracing::Level::DEBUG));
        let e = filter(None, Some("aegis=loud")).expect_err("bad level");
        assert!(e.to_string().contains("RUST_LOG"), "{e}");
    }
}
