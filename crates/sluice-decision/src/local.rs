//! One prepared regorus engine per thread and policy.
//!
//! A regorus `Engine` evaluates through `&mut self`, so sharing one would need a lock that
//! every statement of every session queues on. Instead each thread clones the policy's
//! prepared template the first time it decides with that policy and keeps the clone.
//! Cloning shares the parsed modules (reference counts); a clone and its first decision
//! take well under a millisecond with the example bundle, once per thread.
//!
//! A replaced policy's clones are dropped the next time the thread meets a policy it has no
//! engine for: each clone holds a weak reference to its policy's liveness token and is
//! discarded once that token is gone.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use regorus::Engine;

use crate::input_value::InputBuilder;

struct Slot {
    policy: u64,
    alive: Weak<()>,
    engine: Engine,
}

#[derive(Default)]
struct Local {
    slots: Vec<Slot>,
    inputs: InputBuilder,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local::default());
}

/// What a thread-local engine is handed for one evaluation.
pub(crate) struct Workspace<'a> {
    pub engine: &'a mut Engine,
    pub inputs: &'a mut InputBuilder,
}

/// Runs `f` with this thread's engine for policy `id`, creating it from `template` on first
/// use. Falls back to a throwaway clone when the thread-local cannot be used (during thread
/// teardown, or if `f` were ever to re-enter), so deciding never fails for that reason.
pub(crate) fn with_engine<R>(
    id: u64,
    alive: &Arc<()>,
    template: &Engine,
    mut f: impl FnMut(Workspace<'_>) -> R,
) -> R {
    let local = LOCAL.try_with(|cell| {
        let mut local = cell.try_borrow_mut().ok()?;
        let local = &mut *local;
        let at = match local.slots.iter().position(|s| s.policy == id) {
            Some(at) => at,
            None => {
                local.slots.retain(|s| s.alive.strong_count() > 0);
                local.slots.push(Slot {
                    policy: id,
                    alive: Arc::downgrade(alive),
                    engine: template.clone(),
                });
                local.slots.len() - 1
            }
        };
        let slot = local.slots.get_mut(at)?;
        Some(f(Workspace {
            engine: &mut slot.engine,
            inputs: &mut local.inputs,
        }))
    });
    match local {
        Ok(Some(result)) => result,
        _ => f(Workspace {
            engine: &mut template.clone(),
            inputs: &mut InputBuilder::default(),
        }),
    }
}
