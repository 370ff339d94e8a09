//! The plan's hooks placed in the graph, and the check that each hook's anchor is a step there.

use super::{
    failback, failover, HookAnchor, HookPhase, IncidentClass, Phase, Plan, Step, StepId, StepKind,
};

/// Puts the hooks of `phase` and `class` into a phase's steps: `before = X` runs after X's
/// dependencies and X waits for it; `after = X` runs after X and every step that waited for X
/// waits for it too. A hook runs wherever its step is, among its phases and classes.
pub(super) fn insert_hooks(
    plan: &Plan,
    steps: &mut Vec<Step>,
    phase: HookPhase,
    class: IncidentClass,
    ids: Phase,
) {
    for h in plan.hooks.iter().filter(|h| h.applies(phase, class)) {
        let target = h.anchor.target();
        let target_id = match plan.hooks.iter().find(|o| o.name == target) {
            Some(o) => StepId::new(ids, &o.step_id()),
            None => StepId::new(ids, target),
        };
        let Some(at) = steps.iter().position(|s| s.id == target_id) else {
            continue;
        };
        let id = StepId::new(ids, &h.step_id());
        let kind = StepKind::Hook {
            name: h.name.clone(),
        };
        match &h.anchor {
            HookAnchor::Before(_) => {
                let deps = steps[at].deps.clone();
                steps[at].deps.push(id.clone());
                steps.insert(
                    at,
                    Step {
                        id,
                        title: h.title(),
                        deps,
                        kind,
                    },
                );
            }
            HookAnchor::After(_) => {
                for s in steps.iter_mut() {
                    if s.deps.contains(&target_id) {
                        s.deps.push(id.clone());
                    }
                }
                steps.insert(
                    at + 1,
                    Step {
                        id,
                        title: h.title(),
                        deps: vec![target_id],
                        kind,
                    },
                );
            }
        }
    }
}

/// Checks every hook's step: it must be in some graph of the hook's phases (a misspelt step runs
/// nowhere), and in each class the hook names (in one of its phases).
pub(crate) fn check_hook_anchors(plan: &Plan) -> crate::error::Result<()> {
    let mut placed: std::collections::BTreeSet<(String, IncidentClass)> = Default::default();
    let mut known: Vec<StepId> = Vec::new();
    for class in IncidentClass::ALL {
        for (phase, mut steps) in [
            (HookPhase::Failover, failover(plan, class, Phase::Whole)),
            (
                HookPhase::Failback,
                failback(plan, class, Phase::Whole, &[], false),
            ),
        ] {
            insert_hooks(plan, &mut steps, phase, class, Phase::Whole);
            for s in steps {
                if let StepKind::Hook { name } = &s.kind {
                    placed.insert((name.clone(), class));
                } else if !known.contains(&s.id) {
                    known.push(s.id);
                }
            }
        }
    }
    for h in &plan.hooks {
        let phases: Vec<&str> = h.phases.iter().map(|p| p.as_str()).collect();
        let phases = phases.join(" or ");
        let target = h.anchor.target();
        if !placed.iter().any(|(n, _)| n == &h.name) {
            return Err(crate::error::Error::config(format!(
                "hooks: hook `{}`: `{target}` is not a step of any {phases} of this plan (its steps: {})",
                h.name,
                known.iter().map(StepId::as_str).collect::<Vec<_>>().join(", ")
            )));
        }
        if let Some(c) = h
            .classes
            .iter()
            .find(|c| !placed.contains(&(h.name.clone(), **c)))
        {
            return Err(crate::error::Error::config(format!(
                "hooks: hook `{}`: `{target}` is not a step of the {phases} of a {c}, so the hook would not run there: leave {c} out of its `classes`, or name another step",
                h.name
            )));
        }
    }
    Ok(())
}
