//! DNS answered by a real resolver query (hickory-resolver), not only the provider's word: what
//! verification asks for every record once traffic has moved. No cache: every query goes out.

use std::time::Duration;

use hickory_resolver::{
    config::{NameServerConfig, ResolveHosts, ResolverConfig},
    net::runtime::TokioRuntimeProvider,
    proto::rr::{RData, RecordType},
    Resolver, TokioResolver,
};

use crate::{
    error::{Error, ErrorKind, Result},
    plan::DnsResolver,
};

/// Asks one resolver, uncached.
pub struct DnsCheck {
    resolver: TokioResolver,
    via: DnsResolver,
}

impl std::fmt::Debug for DnsCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DnsCheck({})", self.via)
    }
}

fn normalize(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

impl DnsCheck {
    /// A check through `via`; `None` when the plan asks for no resolver query.
    pub fn new(via: DnsResolver) -> Result<Option<DnsCheck>> {
        let mut builder = match via {
            DnsResolver::None => return Ok(None),
            DnsResolver::System => Resolver::builder_tokio().map_err(|e| {
                Error::config(format!(
                    "verification.dns_resolver: cannot read the system resolver configuration: {e}"
                ))
            })?,
            DnsResolver::Server(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
        };
        let o = builder.options_mut();
        o.cache_size = 0;
        o.timeout = Duration::from_secs(3);
        o.attempts = 2;
        o.use_hosts_file = ResolveHosts::Never;
        let resolver = builder
            .build()
            .map_err(|e| Error::config(format!("verification.dns_resolver: {e}")))?;
        Ok(Some(DnsCheck { resolver, via }))
    }

    /// The values the resolver answers for `name` of `record_type` (`CNAME`, `A`, `AAAA`, `TXT`),
    /// normalised (lowercase names without the final dot).
    pub async fn answer(&self, name: &str, record_type: &str) -> Result<Vec<String>> {
        let rt: RecordType = record_type.parse().map_err(|_| {
            Error::config(format!(
                "DNS record type `{record_type}` cannot be resolved"
            ))
        })?;
        let fqdn = format!("{}.", normalize(name));
        let lookup = self.resolver.lookup(fqdn.as_str(), rt).await.map_err(|e| {
            Error::new(
                ErrorKind::Unreachable,
                format!("{record_type} {name} via {}: {e}", self.via),
            )
        })?;
        let mut values: Vec<String> = lookup
            .answers()
            .iter()
            .filter(|r| r.record_type() == rt)
            .map(|r| match &r.data {
                RData::CNAME(c) => normalize(&c.0.to_ascii()),
                RData::A(a) => a.0.to_string(),
                RData::AAAA(a) => a.0.to_string(),
                other => normalize(&other.to_string()),
            })
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }

    /// What is wrong with the resolver's answer for `name` against `expected`; `None` when it
    /// answers exactly those values. An error or no answer is a problem, never a match.
    pub async fn problem(
        &self,
        name: &str,
        record_type: &str,
        expected: &crate::plan::RecordTargets,
    ) -> Option<String> {
        let mut want: Vec<String> = expected.values().iter().map(|v| normalize(v)).collect();
        want.sort();
        want.dedup();
        match self.answer(name, record_type).await {
            Ok(got) if got == want => None,
            Ok(got) if got.is_empty() => Some(format!(
                "{name}: {} answers no {record_type} record (expected {})",
                self.via,
                want.join(", ")
            )),
            Ok(got) => Some(format!(
                "{name}: {} answers {record_type} {} (expected {})",
                self.via,
                got.join(", "),
                want.join(", ")
            )),
            Err(e) => Some(e.to_string()),
        }
    }

    /// The resolver asked.
    pub fn via(&self) -> DnsResolver {
        self.via
    }
}
