//! Effects in flight: where an activity runs ([`Place`]), how each effect it asks for is
//! identified ([`EffectKey`]), and the set of effects issued and not yet answered
//! ([`InFlight`]), which makes each effect issued once per machine.

use weft_core::RunId;

/// Where an activity runs: its step and map branch, and the run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Place {
    pub run: RunId,
    pub step: u64,
    pub branch: Option<u32>,
}

/// Identifies one effect, so that each is issued once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EffectKey {
    pub(super) step: u64,
    pub(super) branch: Option<u32>,
    pub(super) effect: Effect,
}

/// The kind of an effect, with what tells it apart from its step's other effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Effect {
    /// A model call: its turn.
    Model(u32),
    /// A tool call: the turn that asked for it and its position among that turn's calls.
    Tool(u32, u32),
    /// The child run.
    Child,
    /// A guard judging a text: its point, turn and index.
    Guard(weft_core::GuardPoint, u32, u32),
}

impl EffectKey {
    /// The key of `effect` in step `step`, map branch `branch`.
    pub(super) fn new(step: u64, branch: Option<u32>, effect: Effect) -> Self {
        Self {
            step,
            branch,
            effect,
        }
    }
    /// The model call of `turn` of the activity at `place`.
    pub(crate) fn model(place: Place, turn: u32) -> Self {
        Self::new(place.step, place.branch, Effect::Model(turn))
    }
    /// Tool call `index` of `turn` of the activity at `place`.
    pub(crate) fn tool(place: Place, turn: u32, index: u32) -> Self {
        Self::new(place.step, place.branch, Effect::Tool(turn, index))
    }
    /// The guard judging the text `check` of the activity at `place`.
    pub(crate) fn guard(place: Place, check: weft_core::GuardCheck) -> Self {
        Self::new(
            place.step,
            place.branch,
            Effect::Guard(check.point, check.turn, check.index),
        )
    }
    /// The child run of the activity at `place`.
    pub(crate) fn child(place: Place) -> Self {
        Self::new(place.step, place.branch, Effect::Child)
    }
}

/// The effects issued and not yet answered: one per tool call or map branch of the
/// current step. Usually a handful, sometimes hundreds.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    /// While few are in flight: a list, cheaper than hashing.
    few: Vec<EffectKey>,
    /// Past [`InFlight::FEW`] (a reply with many tool calls, a wide map): a hash set, so
    /// each check stays constant time.
    many: rustc_hash::FxHashSet<EffectKey>,
    /// Counts the times the set was cleared, so what was learnt about it can expire.
    generation: u64,
}

impl InFlight {
    const FEW: usize = 16;

    /// Changes whenever the set is cleared.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Adds `key`; false if it was there already.
    pub(crate) fn insert(&mut self, key: EffectKey) -> bool {
        if !self.many.is_empty() {
            return self.many.insert(key);
        }
        if self.few.contains(&key) {
            return false;
        }
        if self.few.len() < Self::FEW {
            self.few.push(key);
        } else {
            self.many.extend(self.few.drain(..));
            self.many.insert(key);
        }
        true
    }

    /// Whether nothing is in flight.
    pub(crate) fn is_empty(&self) -> bool {
        self.few.is_empty() && self.many.is_empty()
    }

    /// Whether `key` is in flight.
    pub(crate) fn contains(&self, key: &EffectKey) -> bool {
        if self.many.is_empty() {
            self.few.contains(key)
        } else {
            self.many.contains(key)
        }
    }

    /// Removes `key`.
    pub(crate) fn remove(&mut self, key: &EffectKey) {
        if self.many.is_empty() {
            self.few.retain(|entry| entry != key);
        } else {
            self.many.remove(key);
        }
    }

    /// Forgets everything: the driver stopped, so nothing it started is in flight.
    pub(crate) fn clear(&mut self) {
        self.few.clear();
        self.many.clear();
        self.generation += 1;
    }
}
