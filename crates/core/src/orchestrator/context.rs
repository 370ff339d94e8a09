//! What the steps of one run share: what does not change, its changing state, and its effects.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::{
    clock::Clock,
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    incident::{IncidentClass, Targets},
    journal::{Entry, Journal, Operation, RunFlags},
    notify::{Escalation, Message, Notifier, Template},
    orchestrator::graph::StepKind,
    orchestrator::{Estimate, Graph, Progress},
    plan::Plan,
    provider::Providers,
    run::{DataLoss, Phase, StepId},
};

/// What became of one message: how many sinks took it, and which failed (journaled with their errors).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Sinks that took it.
    pub delivered: usize,
    /// Sinks that failed.
    pub failed: Vec<String>,
}

impl std::fmt::Display for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sent to {} sink(s)", self.delivered)?;
        if !self.failed.is_empty() {
            write!(
                f,
                "; FAILED at {} ({})",
                self.failed.len(),
                self.failed.join(", ")
            )?;
        }
        Ok(())
    }
}

/// What changes during a run: one state, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct LiveState {
    /// What steps journaled to resume from, by (step, key).
    pub checkpoints: HashMap<(StepId, String), serde_json::Value>,
    /// Per phase: when it was declared and restored.
    pub marks: HashMap<(Mark, Phase), u64>,
    /// Per phase: the data-loss windows measured by its promotions and recoveries.
    pub data_loss: HashMap<Phase, DataLoss>,
    /// The operator's requests in force.
    pub controls: super::controls::Controls,
    /// The RTO overrun has been escalated (once a run).
    pub rto_escalated: bool,
}

/// Where a run starts from: nothing for a new run; for a resumed one, what its journal says.
#[derive(Debug, Default)]
pub(crate) struct Resumed {
    /// The state its journal folds to.
    pub live: LiveState,
    /// The steps that had started.
    pub previously_started: HashSet<StepId>,
}

/// Everything the steps of one run share: what does not change, one changing state behind one
/// lock, and the effects a run has besides its providers' calls.
pub(crate) struct RunCtx {
    /// What does not change during the run.
    pub fixed: RunFixed,
    /// What changes as the run goes, behind one lock (see [`RunCtx::live`]).
    live: Mutex<LiveState>,
    /// The journal, the plan's sinks and the live display.
    pub effects: Effects,
}

/// What does not change during a run: the plan, its providers and graph, the run's ids and flags.
pub(crate) struct RunFixed {
    pub plan: Arc<Plan>,
    pub providers: Providers,
    pub clock: Clock,
    pub run_id: String,
    pub operation: Operation,
    pub class: IncidentClass,
    pub targets: Targets,
    pub flags: RunFlags,
    pub started_ms: u64,
    pub recovery_point: Option<String>,
    pub graph: Graph,
    pub estimate: Estimate,
    /// Steps an earlier process of the run started.
    pub previously_started: HashSet<StepId>,
}

/// What a run does besides its providers' calls: journal entries, messages to the plan's sinks,
/// lines on the live display, and the signal approval hooks wait on.
pub(crate) struct Effects {
    journal: Mutex<Journal>,
    pub notifier: Notifier,
    pub progress: Arc<dyn Progress>,
    /// Messages being sent in the background (at most one: each waits for the one before).
    pub background_notifications: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Bumped whenever the operator's controls change (approval hooks wait on it).
    pub controls_changed: tokio::sync::watch::Sender<u64>,
}

impl Effects {
    /// The effects of a run writing to `journal`.
    pub fn new(journal: Journal, notifier: Notifier, progress: Arc<dyn Progress>) -> Effects {
        Effects {
            journal: Mutex::new(journal),
            notifier,
            progress,
            background_notifications: Mutex::new(Vec::new()),
            controls_changed: tokio::sync::watch::channel(0).0,
        }
    }
}

impl RunCtx {
    /// A run's context: `live` is where it starts from (empty, or its journal's fold).
    pub fn new(run: RunFixed, live: LiveState, effects: Effects) -> RunCtx {
        RunCtx {
            fixed: run,
            live: Mutex::new(live),
            effects,
        }
    }

    /// Applies an operator's request: journaled (durably), then in force.
    pub fn apply_control(&self, req: crate::control::ControlRequest) -> Result<String> {
        let applied = self.live().controls.apply(req);
        for r in applied.journaled {
            self.journal(Entry::Control {
                ts_ms: self.fixed.clock.now_ms(),
                request: r,
            })?;
        }
        self.effects.controls_changed.send_modify(|g| *g += 1);
        tracing::warn!(run = %self.fixed.run_id, "{}", applied.message);
        self.effects.progress.message(&applied.message);
        Ok(applied.message)
    }

    /// The run's changing state. A panic elsewhere while holding it leaves it as it was: taken
    /// as is (every change to it is a single insert or removal).
    pub fn live(&self) -> std::sync::MutexGuard<'_, LiveState> {
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True while the operator has paused the run.
    pub fn paused(&self) -> bool {
        self.live().controls.paused.is_some()
    }

    /// The operator's order to skip `step`, if any.
    pub fn skip_order(&self, step: &StepId) -> Option<super::controls::SkipOrder> {
        self.live().controls.skips.get(step).cloned()
    }

    fn locked_journal(&self) -> Result<std::sync::MutexGuard<'_, Journal>> {
        self.effects
            .journal
            .lock()
            .map_err(|_| Error::new(ErrorKind::Io, "journal lock poisoned"))
    }

    /// Ends the run's journal (after its last entry): its writer lock is released at once.
    pub fn close_journal(&self) -> Result<()> {
        self.locked_journal()?.close()
    }

    /// The run's entries as this process knows them (read at resume, then written).
    pub fn journal_entries(&self) -> Result<Vec<Entry>> {
        Ok(self.locked_journal()?.entries().to_vec())
    }

    /// Appends to the journal (fsynced).
    pub fn journal(&self, entry: Entry) -> Result<()> {
        self.locked_journal()?.append(&entry)
    }

    /// Appends entries without fsync (they reach the disk with the next fsynced append or
    /// [`RunCtx::journal_sync`]).
    pub fn journal_unsynced(&self, entries: &[Entry]) -> Result<()> {
        let mut j = self.locked_journal()?;
        entries.iter().try_for_each(|e| j.append_unsynced(e))
    }

    /// Appends `entries` and fsyncs everything appended so far (one group commit), on a blocking
    /// thread so no runtime worker waits for the disk.
    pub async fn journal_sync(&self, entries: &[Entry]) -> Result<()> {
        let syncer = {
            let mut j = self.locked_journal()?;
            entries.iter().try_for_each(|e| j.append_unsynced(e))?;
            j.syncer()?
        };
        // A store's entries are durable once written.
        let Some((file, path)) = syncer else {
            return Ok(());
        };
        let synced = tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("journal fsync task died: {e}")))?;
        synced.map_err(|e| Error::io(path.display(), e))
    }

    /// Epoch ms when the RTO runs out.
    pub fn rto_deadline_ms(&self) -> u64 {
        self.fixed
            .started_ms
            .saturating_add(u64::try_from(self.fixed.targets.rto.as_millis()).unwrap_or(u64::MAX))
    }

    /// Epoch ms when waits give up: the RTO plus its allowed overrun.
    pub fn hard_deadline_ms(&self) -> u64 {
        let rto = self.fixed.targets.rto.as_secs_f64() * 1000.0;
        // `as` saturates a float too large for u64.
        self.fixed
            .started_ms
            .saturating_add((rto * (1.0 + self.fixed.plan.execution.overrun_factor)) as u64)
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        Duration::from_millis(
            self.fixed
                .clock
                .now_ms()
                .saturating_sub(self.fixed.started_ms),
        )
    }

    fn message(&self, template: Template, text: String, fields: serde_json::Value) -> Message {
        Message {
            template,
            run_id: self.fixed.run_id.clone(),
            plan: self.fixed.plan.name.clone(),
            operation: self.fixed.operation.as_str().into(),
            class: self.fixed.class.as_str().into(),
            text,
            fields,
        }
    }

    /// Sends a notification (after those still going out in the background) and journals each
    /// sink's outcome; never fails the run.
    pub async fn notify(
        &self,
        template: Template,
        text: String,
        fields: serde_json::Value,
    ) -> Delivery {
        self.flush_notifications().await;
        self.send_now(template, text, fields).await
    }

    /// Sends a message without holding up the run (a progress update: a slow webhook must not delay
    /// the next step). It goes out after the messages before it, and [`RunCtx::notify`] and the
    /// run's end wait for it, so every sink sees the messages in order.
    pub fn notify_in_background(
        self: &Arc<Self>,
        template: Template,
        text: String,
        fields: serde_json::Value,
    ) {
        let Ok(mut pending) = self.effects.background_notifications.lock() else {
            return;
        };
        let before = std::mem::take(&mut *pending);
        let run = self.clone();
        pending.push(tokio::spawn(async move {
            for h in before {
                let _ = h.await;
            }
            run.send_now(template, text, fields).await;
        }));
    }

    /// Waits until the messages sent in the background are out (and journaled).
    pub async fn flush_notifications(&self) {
        let pending = self
            .effects
            .background_notifications
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        for h in pending {
            let _ = h.await;
        }
    }

    /// Sends to every sink now and journals each outcome.
    async fn send_now(
        &self,
        template: Template,
        text: String,
        fields: serde_json::Value,
    ) -> Delivery {
        self.send_routed(template, text, fields, &[]).await
    }

    async fn send_routed(
        &self,
        template: Template,
        text: String,
        fields: serde_json::Value,
        sinks: &[String],
    ) -> Delivery {
        let msg = self.message(template, text, fields);
        let results = self.effects.notifier.send_to(&msg, sinks).await;
        let mut d = Delivery::default();
        for (sink, error) in results {
            match &error {
                None => d.delivered += 1,
                Some(_) => d.failed.push(sink.clone()),
            }
            if let Some(e) = &error {
                tracing::warn!(sink = %sink, template = template.as_str(), error = %e, "notification failed");
                self.effects
                    .progress
                    .message(&format!("notification to {sink} failed: {e}"));
            }
            let _ = self.journal(Entry::Notification {
                ts_ms: self.fixed.clock.now_ms(),
                template: template.as_str().into(),
                sink,
                error,
            });
        }
        d
    }

    /// Raises an escalation: journaled, shown, and sent with the escalation template to its route's
    /// sinks (every sink without a route), naming who to contact.
    pub async fn escalate(&self, reason: Escalation, message: String) {
        let route = self
            .fixed
            .plan
            .escalations
            .get(&reason)
            .cloned()
            .unwrap_or_default();
        let contact = route
            .contact
            .clone()
            .unwrap_or_else(|| reason.default_contact().to_string());
        let message = format!("{message}. Contact {contact}.");
        tracing::warn!(run = %self.fixed.run_id, reason = reason.as_str(), message = %message, "escalation");
        let _ = self.journal(Entry::Escalation {
            ts_ms: self.fixed.clock.now_ms(),
            reason: reason.as_str().into(),
            message: message.clone(),
        });
        self.effects
            .progress
            .message(&format!("ESCALATION ({}): {message}", reason.as_str()));
        let text = format!(
            "[aegis-dr] ESCALATION {} {} ({}), run {}: {message}",
            self.fixed.plan.name,
            self.fixed.operation.as_str(),
            self.fixed.class,
            self.fixed.run_id
        );
        self.flush_notifications().await;
        self.send_routed(
            Template::Escalation,
            text,
            serde_json::json!({ "reason": reason.as_str(), "message": message, "contact": contact }),
            &route.notify,
        )
        .await;
    }

    /// Escalates once when the run passes its RTO.
    pub async fn escalate_rto(&self) {
        let first = !std::mem::replace(&mut self.live().rto_escalated, true);
        if first {
            let msg = format!(
                "the {} has run {} and passed its RTO of {}; the run continues",
                self.fixed.operation.as_str(),
                format_duration(self.elapsed()),
                format_duration(self.fixed.targets.rto)
            );
            self.escalate(Escalation::RtoExceeded, msg).await;
        }
    }

    /// Records a phase mark for the phase of `step_id` (the first one of its kind stays).
    pub fn mark(&self, kind: Mark, step_id: &StepId, ms: u64) {
        self.live()
            .marks
            .entry((kind, step_id.phase()))
            .or_insert(ms);
    }

    /// A phase mark.
    pub fn get_mark(&self, kind: Mark, step_id: &StepId) -> Option<u64> {
        self.live().marks.get(&(kind, step_id.phase())).copied()
    }

    /// The first step of `step_id`'s phase for which `f` gives a value (the verification site, the
    /// site promoted to, ...).
    pub fn find_in_phase<T>(
        &self,
        step_id: &StepId,
        f: impl Fn(&StepKind) -> Option<T>,
    ) -> Option<T> {
        let phase = step_id.phase();
        self.fixed
            .graph
            .steps
            .iter()
            .filter(|s| s.id.phase() == phase)
            .find_map(|s| f(&s.kind))
    }

    /// True when the run's graph has a step of a kind matching `f`.
    pub fn has_step(&self, f: impl Fn(&super::graph::StepKind) -> bool) -> bool {
        self.fixed.graph.steps.iter().any(|s| f(&s.kind))
    }

    /// Adds the data lost by step `step_id` to its phase's.
    pub(super) fn add_data_loss(&self, step_id: &StepId, loss: DataLoss) {
        self.live()
            .data_loss
            .entry(step_id.phase())
            .or_default()
            .merge(loss);
    }

    /// The data lost by the phase of `step_id` so far.
    pub fn data_loss_of(&self, step_id: &StepId) -> DataLoss {
        self.live()
            .data_loss
            .get(&step_id.phase())
            .copied()
            .unwrap_or_default()
    }
}

/// The instants of a phase its RTO runs between (epoch ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Mark {
    /// The incident was declared.
    Declared,
    /// Service was verified restored.
    Restored,
}
