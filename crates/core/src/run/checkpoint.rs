//! What a step journals to resume from, each kind under its own key.

/// The key of a step's checkpoint. The journal stores [`Checkpoint::key`]; the names are part of
/// the journal format, so they never change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Checkpoint {
    /// The recovery (or failback) job a step started, followed again on a resume.
    JobId,
    /// The data-loss window each promotion measured, by database.
    RpoMs,
    /// The DNS change submitted for a record, waited for again on a resume.
    DnsChange(String),
    /// A record's TTL before it was lowered, and when.
    LoweredTtl(String),
    /// The recovery instances a relaunch from a recovery point replaces.
    RelaunchReplaces,
    /// The relaunch job.
    RelaunchJob,
    /// The relaunch, once complete (its summary).
    Relaunched,
}

impl Checkpoint {
    /// The key as journaled.
    pub fn key(&self) -> String {
        match self {
            Checkpoint::JobId => "job_id".into(),
            Checkpoint::RpoMs => "rpo_ms".into(),
            Checkpoint::DnsChange(record) => format!("change:{record}"),
            Checkpoint::LoweredTtl(record) => format!("lowered:{record}"),
            Checkpoint::RelaunchReplaces => "relaunch_replaces".into(),
            Checkpoint::RelaunchJob => "relaunch_job_id".into(),
            Checkpoint::Relaunched => "relaunched".into(),
        }
    }
}
