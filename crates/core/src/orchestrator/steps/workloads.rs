//! Workload steps: list and match the plan's groups, drain, scale and restore, wait for rollouts.

use std::{collections::BTreeMap, sync::Arc};

use super::primary_down_accepted;
use crate::provider::{DRAIN_ANNOTATION, ORIGINAL_REPLICAS_ANNOTATION, SCALED_BY_RUN_ANNOTATION};
use crate::{
    duration::format_duration,
    error::{Error, ErrorKind, Result},
    orchestrator::step_ctx::{ItemWork, StepCtx},
    plan::{graph::WorkloadMode, SiteRole, WorkloadSpec},
    provider::{
        AnnotateWorkload, ListWorkloads, ProbeRequest, ScaleWorkload, WorkloadId, WorkloadState,
    },
    run::Output,
};

pub(super) struct Workload<'a> {
    id: WorkloadId,
    state: WorkloadState,
    spec: &'a WorkloadSpec,
    /// Index of `spec` in the plan's workload groups.
    group: usize,
}

pub(super) async fn workloads_of(ctx: &Arc<StepCtx>, site: SiteRole) -> Result<Vec<Workload<'_>>> {
    let plan = ctx.plan();
    let lists = per_group(ctx, site, |_, g, req, mut listing| {
        let order = match_names(g, &req, &mut listing)?;
        with_ids(g, req, listing, order)
    })
    .await?;
    let mut out = Vec::with_capacity(lists.iter().map(|(_, l)| l.len()).sum());
    for (i, group) in lists {
        let spec = &plan.workloads[i];
        out.extend(group.into_iter().map(|(id, state)| Workload {
            id,
            state,
            spec,
            group: i,
        }));
    }
    Ok(out)
}

/// Lists every workload group of `site` and hands each listing (with the group's index and spec)
/// to `f` in the task that received it: with thousands of workloads that work (and freeing the
/// listing) is spread over the tasks and does not hold up the caller's other calls. Results by
/// group index, in plan order.
pub(super) async fn per_group<T, F>(
    ctx: &Arc<StepCtx>,
    site: SiteRole,
    f: F,
) -> Result<Vec<(usize, T)>>
where
    T: Send + 'static,
    F: Fn(usize, &WorkloadSpec, ListWorkloads, Vec<WorkloadState>) -> Result<T>
        + Clone
        + Send
        + Sync
        + 'static,
{
    let plan = ctx.plan();
    let scaler = ctx.providers().workloads(ctx.plan().site(site));
    let requests: Vec<(usize, ListWorkloads)> = plan
        .workloads
        .iter()
        .enumerate()
        .map(|(i, g)| (i, ListWorkloads::for_group(plan, site, g)))
        .collect();
    let mut lists = ctx
        .fan_out_tasks(requests, ItemWork::Heavy, move |ctx, (i, req)| {
            let scaler = scaler.clone();
            let f = f.clone();
            async move {
                let listing = ctx.call("list workloads", || scaler.list(&req)).await?;
                Ok((i, f(i, &ctx.plan().workloads[i], req, listing)?))
            }
        })
        .await?;
    lists.sort_unstable_by_key(|(i, _)| *i);
    Ok(lists)
}

/// Indices into `listing` (sorted here by name) of group `g`'s workloads, in the plan's order (all,
/// by name, when the group selects by label); a named workload missing from the listing is an
/// error naming it. APIs list in name order (the sort is usually a check); names the plan gives in
/// order are matched in one walk, others by binary search: no hashing, no copies of names.
pub(super) fn match_names(
    g: &WorkloadSpec,
    req: &ListWorkloads,
    listing: &mut [WorkloadState],
) -> Result<Vec<usize>> {
    if !listing.is_sorted_by(|a, b| a.name <= b.name) {
        listing.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    }
    if g.names.is_empty() {
        return Ok((0..listing.len()).collect());
    }
    let missing = |name: &str| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "{:?} `{name}` of group `{}` does not exist at the {} site",
                g.kind, g.name, req.site
            ),
        )
        .with_resource(format!(
            "{}/{}/{}/{name}",
            req.site, req.cluster, req.namespace
        ))
    };
    let listing: &[WorkloadState] = listing;
    if g.names.is_sorted() {
        let mut at = 0;
        return g
            .names
            .iter()
            .map(|name| {
                // Plans usually name most of what is listed: step a few before searching.
                let mut steps = 0;
                while steps < 4 && listing.get(at).is_some_and(|w| w.name < *name) {
                    at += 1;
                    steps += 1;
                }
                at += listing[at..].partition_point(|w| w.name < *name);
                match listing.get(at) {
                    Some(w) if w.name == *name => Ok(at),
                    _ => Err(missing(name)),
                }
            })
            .collect();
    }
    g.names
        .iter()
        .map(|name| {
            listing
                .binary_search_by(|w| w.name.as_str().cmp(name))
                .map_err(|_| missing(name))
        })
        .collect()
}

/// The workloads at `order` in `listing`, each with its id (the name moves into the id).
pub(super) fn with_ids(
    g: &WorkloadSpec,
    req: ListWorkloads,
    listing: Vec<WorkloadState>,
    order: Vec<usize>,
) -> Result<Vec<(WorkloadId, WorkloadState)>> {
    let ListWorkloads {
        site,
        cluster,
        namespace,
        kind,
        ..
    } = req;
    let mut slots: Vec<Option<WorkloadState>> = listing.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(order.len());
    for i in order {
        let Some(mut state) = slots[i].take() else {
            return Err(Error::config(format!(
                "workload group `{}` names `{}` twice",
                g.name,
                g.names[out.len()]
            )));
        };
        let name = std::mem::take(&mut state.name);
        out.push((
            WorkloadId {
                site,
                cluster: cluster.clone(),
                namespace: namespace.clone(),
                kind,
                name,
            },
            state,
        ));
    }
    Ok(out)
}

pub(super) async fn drain(ctx: &Arc<StepCtx>, site: SiteRole) -> Result<String> {
    let items = match workloads_of(ctx, site).await {
        Ok(items) => items,
        Err(e) if primary_down_accepted(ctx, site, &e)? => {
            return Ok(ctx.skip(format!(
                "the primary site is unreachable, as declared (--primary-unreachable): not drained ({e})"
            )));
        }
        Err(e) => return Err(e),
    };
    let scaler = ctx.providers().workloads(ctx.plan().site(site));
    let total = items.len();
    let todo: Vec<_> = items
        .into_iter()
        .filter(|w| {
            w.state
                .annotations
                .get(DRAIN_ANNOTATION)
                .map(String::as_str)
                != Some("true")
        })
        .map(|w| w.id)
        .collect();
    let annotated = todo.len();
    ctx.fan_out_tasks(todo, ItemWork::Light, move |ctx, id| {
        let scaler = scaler.clone();
        let req = AnnotateWorkload {
            id,
            annotations: BTreeMap::from([(DRAIN_ANNOTATION.to_string(), Some("true".to_string()))]),
        };
        async move { ctx.call("annotate drain", || scaler.annotate(&req)).await }
    })
    .await?;
    // Wait for in-flight requests to reach zero.
    let eps: Vec<_> = ctx
        .plan()
        .health_endpoints
        .iter()
        .filter(|h| h.site == site)
        .collect();
    // Some(true): every endpoint reports zero in flight; Some(false): requests still in flight;
    // None: no endpoint reports in-flight requests at all.
    let reported = ctx
        .wait("in-flight requests to drain", || {
            let eps = eps.clone();
            async move {
                let mut any_reported = false;
                for h in eps {
                    let health = ctx.providers().health(&h.provider)?;
                    let r = health.probe(&ProbeRequest::of(h)).await?;
                    match r.in_flight {
                        Some(n) if n > 0 => return Ok(None),
                        Some(_) => any_reported = true,
                        None => {}
                    }
                }
                Ok(Some(any_reported))
            }
        })
        .await?;
    if !reported {
        // Nothing to observe: give in-flight requests the estimated drain time before fencing.
        let grace = ctx.estimates().drain;
        ctx.note(format!(
            "no health endpoint of the {site} site reports in-flight requests: waited the drain estimate of {}",
            format_duration(grace)
        ));
        ctx.run.fixed.clock.sleep(grace).await;
    }
    ctx.record(Output::Annotated(annotated));
    Ok(format!(
        "{annotated} of {total} workloads annotated {DRAIN_ANNOTATION}=true; in-flight requests at zero"
    ))
}

/// Each workload group's goal replicas by workload name (sorted by name), for the rollout wait.
pub(super) struct RolloutGoals(Vec<Vec<(String, u32)>>);

impl RolloutGoals {
    fn new(groups: usize) -> RolloutGoals {
        RolloutGoals(vec![Vec::new(); groups])
    }

    fn set(&mut self, w: &Workload<'_>, goal: u32) {
        self.0[w.group].push((w.id.name.clone(), goal));
    }

    fn sorted(mut self) -> RolloutGoals {
        for g in &mut self.0 {
            g.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        }
        self
    }

    /// The goal of workload `name` of group `group`, if it has one.
    fn get(&self, group: usize, name: &str) -> Option<u32> {
        let g = self.0.get(group)?;
        g.binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| g[i].1)
    }
}

pub(super) async fn scale_workloads(
    ctx: &Arc<StepCtx>,
    site: SiteRole,
    mode: WorkloadMode,
) -> Result<String> {
    let items = workloads_of(ctx, site).await?;
    let scaler = ctx.providers().workloads(ctx.plan().site(site));
    let run_id = ctx.run.fixed.run_id.clone();
    let total = items.len();
    let mut goals = RolloutGoals::new(ctx.plan().workloads.len());
    let changed;
    match mode {
        WorkloadMode::Undrain => {
            let todo: Vec<_> = items
                .into_iter()
                .filter(|w| w.state.annotations.contains_key(DRAIN_ANNOTATION))
                .map(|w| w.id)
                .collect();
            changed = todo.len();
            ctx.fan_out_tasks(todo, ItemWork::Light, move |ctx, id| {
                let scaler = scaler.clone();
                let req = AnnotateWorkload {
                    id,
                    annotations: BTreeMap::from([(DRAIN_ANNOTATION.to_string(), None)]),
                };
                async move {
                    ctx.call("remove drain annotation", || scaler.annotate(&req))
                        .await
                }
            })
            .await?;
            return Ok(format!(
                "drain annotation removed from {changed} of {total} workloads"
            ));
        }
        WorkloadMode::ScaleUpRecording | WorkloadMode::Production => {
            let record = mode == WorkloadMode::ScaleUpRecording;
            let mut todo = Vec::new();
            for w in items {
                let target = w.spec.production_replicas;
                goals.set(&w, target);
                if w.state.replicas == target {
                    continue;
                }
                let ours = w.state.annotations.get(SCALED_BY_RUN_ANNOTATION) == Some(&run_id)
                    && w.state
                        .annotations
                        .contains_key(ORIGINAL_REPLICAS_ANNOTATION);
                let annotate = record && !ours;
                todo.push((w.id, w.state.replicas, target, annotate));
            }
            changed = todo.len();
            let run_id = run_id.clone();
            ctx.fan_out_tasks(
                todo,
                ItemWork::Light,
                move |ctx, (id, current, target, annotate)| {
                    let scaler = scaler.clone();
                    let run_id = run_id.clone();
                    async move {
                        // The original count is recorded in the same request as the scale: a crash
                        // leaves both or neither.
                        let annotations = if annotate {
                            BTreeMap::from([
                                (
                                    ORIGINAL_REPLICAS_ANNOTATION.to_string(),
                                    Some(current.to_string()),
                                ),
                                (SCALED_BY_RUN_ANNOTATION.to_string(), Some(run_id)),
                            ])
                        } else {
                            BTreeMap::new()
                        };
                        let req = ScaleWorkload {
                            id,
                            replicas: target,
                            annotations,
                        };
                        ctx.call("scale workload", || scaler.scale(&req)).await
                    }
                },
            )
            .await?;
        }
        WorkloadMode::RestoreRecorded => {
            let mut todo = Vec::new();
            for w in items {
                let recorded = w.state.annotations.get(ORIGINAL_REPLICAS_ANNOTATION);
                let target = match recorded.map(|v| v.parse::<u32>()) {
                    Some(Ok(n)) => n,
                    Some(Err(_)) => {
                        ctx.note(format!(
                            "{}: {ORIGINAL_REPLICAS_ANNOTATION}=`{}` is not a number; restoring standby_replicas {}",
                            w.id,
                            recorded.map(String::as_str).unwrap_or(""),
                            w.spec.standby_replicas
                        ));
                        w.spec.standby_replicas
                    }
                    None => w.spec.standby_replicas,
                };
                goals.set(&w, target);
                let clear: BTreeMap<String, Option<String>> = [
                    ORIGINAL_REPLICAS_ANNOTATION,
                    SCALED_BY_RUN_ANNOTATION,
                    DRAIN_ANNOTATION,
                ]
                .iter()
                .filter(|k| w.state.annotations.contains_key(**k))
                .map(|k| (k.to_string(), None))
                .collect();
                if w.state.replicas != target || !clear.is_empty() {
                    todo.push((w.id, w.state.replicas != target, target, clear));
                }
            }
            changed = todo.len();
            ctx.fan_out_tasks(
                todo,
                ItemWork::Light,
                move |ctx, (id, scale, target, clear)| {
                    let scaler = scaler.clone();
                    async move {
                        if scale {
                            // Restore and clear the record in one request: a crash leaves both or neither.
                            let req = ScaleWorkload {
                                id,
                                replicas: target,
                                annotations: clear,
                            };
                            return ctx.call("restore replicas", || scaler.scale(&req)).await;
                        }
                        let req = AnnotateWorkload {
                            id,
                            annotations: clear,
                        };
                        ctx.call("clear annotations", || scaler.annotate(&req))
                            .await
                    }
                },
            )
            .await?;
        }
    }
    // Wait for the rollout: counted in the listing tasks, only the counts come back.
    let goals = Arc::new(goals.sorted());
    ctx.wait("workload rollout", || {
        let goals = goals.clone();
        async move {
            let pending = per_group(ctx, site, move |group, g, req, mut listing| {
                let order = match_names(g, &req, &mut listing)?;
                Ok(order
                    .into_iter()
                    .map(|i| &listing[i])
                    .filter(|w| {
                        let goal = goals.get(group, &w.name).unwrap_or(w.replicas);
                        w.replicas != goal || w.available_replicas != goal
                    })
                    .count())
            })
            .await?;
            Ok((pending.iter().all(|(_, n)| *n == 0)).then_some(()))
        }
    })
    .await?;
    ctx.record(Output::Scaled { changed, total });
    let what = match mode {
        WorkloadMode::ScaleUpRecording => "scaled to production (original replicas recorded)",
        WorkloadMode::Production => "scaled to production",
        _ => "restored to their recorded replicas, annotations cleared",
    };
    Ok(format!(
        "{changed} of {total} workloads {what}; all rolled out"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::WorkloadKind;

    fn group(names: &[&str]) -> WorkloadSpec {
        WorkloadSpec {
            name: "api".into(),
            namespace: "prod".into(),
            kind: WorkloadKind::Deployment,
            names: names.iter().map(|n| n.to_string()).collect(),
            selector: None,
            production_replicas: 3,
            standby_replicas: 1,
        }
    }

    fn request() -> ListWorkloads {
        ListWorkloads {
            site: SiteRole::Dr,
            cluster: "dr".into(),
            namespace: "prod".into(),
            kind: WorkloadKind::Deployment,
            selector: None,
        }
    }

    fn listing(names: &[&str]) -> Vec<WorkloadState> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| WorkloadState {
                name: n.to_string(),
                replicas: i as u32,
                available_replicas: i as u32,
                annotations: BTreeMap::new(),
            })
            .collect()
    }

    #[test]
    fn named_workloads_come_back_in_plan_order_from_an_unsorted_listing() {
        let g = group(&["web", "api", "worker"]);
        let mut l = listing(&["worker", "api", "cron", "web"]);
        let order = match_names(&g, &request(), &mut l).expect("all listed");
        let got = with_ids(&g, request(), l, order).expect("ids");
        let names: Vec<(&str, u32)> = got
            .iter()
            .map(|(id, s)| (id.name.as_str(), s.replicas))
            .collect();
        // Replicas tell the listing entry each came from.
        assert_eq!(names, [("web", 3), ("api", 1), ("worker", 0)]);
        assert!(
            got.iter().all(|(_, s)| s.name.is_empty()),
            "name moved into the id"
        );
        assert_eq!(got[0].0.to_string(), "dr/dr:prod/Deployment/web");
    }

    #[test]
    fn a_selector_group_takes_every_listed_workload_by_name() {
        let g = group(&[]);
        let mut l = listing(&["b", "c", "a"]);
        let order = match_names(&g, &request(), &mut l).expect("listed");
        let got = with_ids(&g, request(), l, order).expect("ids");
        let names: Vec<&str> = got.iter().map(|(id, _)| id.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn names_given_in_order_are_matched_in_one_walk_dense_or_sparse() {
        let all: Vec<String> = (0..100).map(|i| format!("svc-{i:03}")).collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        // Neighbours, gaps longer than the steps walked before searching, and the last one.
        let g = group(&[
            "svc-000", "svc-001", "svc-002", "svc-050", "svc-051", "svc-099",
        ]);
        let order = match_names(&g, &request(), &mut listing(&all)).expect("all listed");
        assert_eq!(order, [0, 1, 2, 50, 51, 99]);

        let g = group(&["svc-010", "svc-010b", "svc-020"]);
        let err = match_names(&g, &request(), &mut listing(&all)).expect_err("not listed");
        assert!(err.to_string().contains("`svc-010b`"), "{err}");
        let g = group(&["svc-099", "svc-100"]);
        let err = match_names(&g, &request(), &mut listing(&all)).expect_err("past the end");
        assert!(err.to_string().contains("`svc-100`"), "{err}");
    }

    #[test]
    fn a_missing_or_repeated_workload_is_an_error_naming_it() {
        let g = group(&["api", "gone"]);
        let err = match_names(&g, &request(), &mut listing(&["api", "web"]))
            .expect_err("`gone` is not listed");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("`gone` of group `api`"), "{err}");
        assert_eq!(err.resource(), Some("dr/dr/prod/gone"));

        let g = group(&["api", "api"]);
        let mut l = listing(&["api"]);
        let order = match_names(&g, &request(), &mut l).expect("listed");
        let err = with_ids(&g, request(), l, order).expect_err("named twice");
        assert!(err.to_string().contains("names `api` twice"), "{err}");
    }
}
