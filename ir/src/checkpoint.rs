//! Checkpointing policies for reversing a loop, and the schedules that
//! carry them out.
//!
//! Reversing a loop of `n` steps `c_{t+1} = step(c_t)` runs an adjoint step
//! for `t = n−1` down to `0`, and the adjoint step `t` needs the state `c_t`.
//! A [`Checkpoint`] policy decides how each `c_t` is obtained: kept from the
//! forward sweep, or recomputed from an earlier state that was kept (a
//! *snapshot*). A [`Schedule`] turns a policy and a trip count into the
//! sequence of [`Action`]s that does it — snapshot, restore, advance, reverse
//! — which the interpreter executes now and native code can execute the same
//! way. The policy changes only where states come from, never the values the
//! adjoint steps see, so every policy gives bitwise the same results.
//!
//! | policy | snapshots held at once | forward steps run (`n` steps) |
//! |---|---|---|
//! | `all` | `n − 1` | `n − 1` (none repeated) |
//! | `every(k)` | `⌈n/k⌉ + k − 2` at most | below `2n` (each segment of `k` steps is run twice) |
//! | `binomial(s)` | `s` at most | `r·n − β(s+1, r−1)`, the fewest possible with `s` snapshots |
//!
//! For `binomial(s)`, `β(s, r) = C(s+r, s)` and `r` is the least repetition
//! number with `β(s, r) ≥ n`: every step is run at most `r` times
//! forward, and `r` grows like `n^{1/s}` (Griewank and Walther, "Algorithm
//! 799: revolve", ACM TOMS 26(1), 2000). So `s = 1` costs `n(n−1)/2`
//! forward steps with one state held, and `n = 10⁵` with `s = 10` needs
//! `r = 4`.
//!
//! Invariants of every schedule (tested for all three policies):
//! - it starts with the current state `c_0` and holds no snapshot;
//! - it reverses every step `n−1, …, 0` exactly once, in that order, each
//!   from the current state `c_t`, which the reverse step consumes;
//! - an `Advance` starts from the current state, a `Restore` names a slot
//!   holding a snapshot, and slots are used as a stack (slot `i` is taken
//!   only when slots `0..i` are), so the number of slots in use is the
//!   number of snapshots held;
//! - it holds at most the policy's number of snapshots, and for
//!   `binomial(s)` keeps only `O(s)` bookkeeping of its own, whatever `n`.

use std::fmt;

/// How the reverse sweep of a loop obtains the states it needs. Chosen per
/// loop (an attribute of `scan` and `while`); forward evaluation ignores it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Checkpoint {
    /// Keep every state of the forward sweep: no recomputation, memory
    /// linear in the trip count.
    #[default]
    All,
    /// Keep every `k`-th state; on the way back, recompute each segment of
    /// `k` steps once from its snapshot, keeping its states. `k ≥ 1`;
    /// `k ≈ √n` holds about `2√n` states and runs each step twice.
    Every(u64),
    /// Binomial (revolve) checkpointing with at most `s` snapshots, `s ≥ 1`:
    /// memory `O(s)`, and the fewest forward steps any schedule with `s`
    /// snapshots can do.
    Binomial(u64),
}

impl Checkpoint {
    /// Why the policy's parameter is unusable, if it is (`every(0)`,
    /// `binomial(0)`).
    pub fn check(self) -> Result<(), String> {
        match self {
            Checkpoint::Every(0) => Err("checkpoint every(k) needs k >= 1".into()),
            Checkpoint::Binomial(0) => Err("checkpoint binomial(s) needs s >= 1".into()),
            _ => Ok(()),
        }
    }

    /// Whether this is the default policy (`all`), which the text format
    /// leaves out.
    pub fn is_default(self) -> bool {
        self == Checkpoint::All
    }
}

impl fmt::Display for Checkpoint {
    /// The text form: `all`, `every(10)`, `binomial(4)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Checkpoint::All => f.write_str("all"),
            Checkpoint::Every(k) => write!(f, "every({k})"),
            Checkpoint::Binomial(s) => write!(f, "binomial({s})"),
        }
    }
}

/// One action of a [`Schedule`]. Positions count forward steps: the state
/// at position `t` is `c_t`, the state before step `t`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// Keep a copy of the current state (at `position`) in `slot`.
    Snapshot {
        /// The slot (a stack index: slots below it are in use).
        slot: usize,
        /// The position of the state kept.
        position: usize,
    },
    /// Make the state kept in `slot` (at `position`) the current state. The
    /// slot keeps it.
    Restore {
        /// The slot.
        slot: usize,
        /// The position of the state in it.
        position: usize,
    },
    /// Run `steps` forward steps from the current state at `from`, which
    /// becomes the state at `from + steps`.
    Advance {
        /// The position of the current state.
        from: usize,
        /// How many steps to run (at least 1).
        steps: usize,
    },
    /// Run the reverse step `step` on the current state, which is at
    /// position `step`. The current state is consumed.
    Reverse {
        /// The step reversed.
        step: usize,
    },
}

/// A policy's parameter is unusable (`every(0)`, `binomial(0)`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadCheckpoint(pub String);

/// The most snapshots the schedule of `n` steps under `policy` holds at
/// once: `n − 1` for `all`, `⌈n/k⌉ + k − 2` for `every(k)`, `s` for
/// `binomial(s)` (never more than `n − 1`). A stack of this many entries
/// is enough for [`ScheduleOn`].
pub fn snapshot_bound(policy: Checkpoint, n: usize) -> usize {
    let most = n.saturating_sub(1);
    match policy {
        Checkpoint::All => most,
        Checkpoint::Every(k) => {
            let k = usize::try_from(k).unwrap_or(usize::MAX).max(1);
            most.min(n.div_ceil(k).saturating_add(k).saturating_sub(2))
        }
        Checkpoint::Binomial(s) => most.min(usize::try_from(s).unwrap_or(usize::MAX)),
    }
}

/// The state of a schedule apart from its stack of snapshot positions, so
/// that the owning [`Schedule`] and the borrowing [`ScheduleOn`] share one
/// implementation.
#[derive(Clone, Debug)]
struct Cursor {
    policy: Checkpoint,
    /// Steps `0..fine` are still to be reversed.
    fine: usize,
    /// Snapshots held: `stack[..len]`; slot `i` holds `stack[i]`. Increasing.
    len: usize,
    /// The position of the current state, if there is one.
    current: Option<usize>,
}

impl Cursor {
    fn new(n: usize, policy: Checkpoint) -> Cursor {
        Cursor {
            policy,
            fine: n,
            len: 0,
            current: Some(0),
        }
    }

    /// How many forward steps to advance from the top snapshot at `top`
    /// towards `fine` (`l = fine − top ≥ 2`).
    fn split(&self, top: usize, l: usize) -> usize {
        let j = match self.policy {
            Checkpoint::All => 1,
            Checkpoint::Every(k) => {
                let k = usize::try_from(k).unwrap_or(usize::MAX).max(1);
                // Segment starts are the multiples of k: from one, jump to
                // the next while the range spans more than a segment;
                // inside a segment keep every state.
                if top.is_multiple_of(k) && l > k { k } else { 1 }
            }
            Checkpoint::Binomial(s) => {
                let s = usize::try_from(s).unwrap_or(usize::MAX);
                // Slots available to this range, the top one included.
                let available = s.saturating_sub(self.len) + 1;
                revolve_split(l, available)
            }
        };
        j.clamp(1, l - 1)
    }

    fn push(&mut self, stack: &mut [usize], p: usize) -> Option<usize> {
        let slot = self.len;
        *stack.get_mut(slot)? = p;
        self.len += 1;
        Some(slot)
    }

    /// The next action; `None` when done, or when `stack` is too short.
    fn next(&mut self, stack: &mut [usize]) -> Option<Action> {
        if self.fine == 0 {
            return None;
        }
        let last = self.fine - 1;
        let top = self.len.checked_sub(1).map(|i| stack[i]);
        // The current state is the next one to reverse.
        if self.current == Some(last) {
            self.current = None;
            self.fine = last;
            if top == Some(last) {
                self.len -= 1;
            }
            return Some(Action::Reverse { step: last });
        }
        let Some(top) = top else {
            // Only at the start: the current state is c_0, the base of every
            // recomputation, and more than one step remains.
            let slot = self.push(stack, 0)?;
            return Some(Action::Snapshot { slot, position: 0 });
        };
        match self.current {
            // Just advanced past the top snapshot, short of `last`: keep it.
            Some(p) if p > top => {
                let slot = self.push(stack, p)?;
                Some(Action::Snapshot { slot, position: p })
            }
            Some(p) if p == top => {
                let steps = self.split(top, self.fine - top);
                self.current = Some(top + steps);
                Some(Action::Advance { from: top, steps })
            }
            _ => {
                self.current = Some(top);
                Some(Action::Restore {
                    slot: self.len - 1,
                    position: top,
                })
            }
        }
    }
}

/// The actions that reverse `n` steps under a policy, as an iterator.
///
/// Its own memory is the stack of snapshot positions: [`snapshot_bound`]
/// entries (so `O(s)` for `binomial(s)`).
#[derive(Clone, Debug)]
pub struct Schedule {
    cursor: Cursor,
    stack: Vec<usize>,
}

impl Schedule {
    /// The schedule reversing `n` steps under `policy`.
    pub fn new(n: usize, policy: Checkpoint) -> Result<Schedule, BadCheckpoint> {
        policy.check().map_err(BadCheckpoint)?;
        Ok(Schedule {
            cursor: Cursor::new(n, policy),
            stack: vec![0; snapshot_bound(policy, n)],
        })
    }
}

impl Iterator for Schedule {
    type Item = Action;

    fn next(&mut self) -> Option<Action> {
        self.cursor.next(&mut self.stack)
    }
}

/// [`Schedule`] on a caller's stack of snapshot positions, so that running
/// it allocates nothing (the native reverse sweep keeps the stack in its
/// workspace). With fewer than [`snapshot_bound`] entries it stops early.
#[derive(Debug)]
pub struct ScheduleOn<'a> {
    cursor: Cursor,
    stack: &'a mut [usize],
}

impl<'a> ScheduleOn<'a> {
    /// The schedule reversing `n` steps under `policy` (assumed valid, see
    /// [`Checkpoint::check`]) on `stack`.
    pub fn new(n: usize, policy: Checkpoint, stack: &'a mut [usize]) -> ScheduleOn<'a> {
        ScheduleOn {
            cursor: Cursor::new(n, policy),
            stack,
        }
    }

    /// The number of snapshots held.
    pub fn held(&self) -> usize {
        self.cursor.len
    }
}

impl Iterator for ScheduleOn<'_> {
    type Item = Action;

    fn next(&mut self) -> Option<Action> {
        self.cursor.next(self.stack)
    }
}

/// `β(c, r) = C(c + r, c)` (0 when `c` or `r` is negative), or `None` on
/// overflow.
fn beta(c: i64, r: i64) -> Option<u128> {
    if c < 0 || r < 0 {
        return Some(0);
    }
    // C(c + r, min(c, r)) by the multiplicative formula; each partial
    // product is itself a binomial coefficient, so the division is exact.
    let (small, big) = (c.min(r) as u128, c.max(r) as u128);
    let mut acc: u128 = 1;
    for i in 1..=small {
        acc = acc.checked_mul(big + i)? / i;
    }
    Some(acc)
}

/// The revolve split: with `c ≥ 1` snapshot slots (one holding the range's
/// first state) and `l ≥ 2` steps to reverse, how far to advance before the
/// next snapshot so that the total number of forward steps is least
/// (Griewank and Walther's rule). Falls back to halving if the binomial
/// coefficients overflow (only for astronomically long loops).
fn revolve_split(l: usize, c: usize) -> usize {
    let fallback = (l / 2).max(1);
    // More slots than steps cannot help.
    let c = c.min(l) as i64;
    let target = l as u128;
    let Some(found) = (|| {
        // The least r with β(c, r) ≥ l.
        let mut r: i64 = 0;
        while beta(c, r)? < target {
            r += 1;
        }
        let range = beta(c, r)?;
        let bino1 = beta(c, r - 1)?;
        let bino2 = beta(c - 1, r - 1)?;
        let bino3 = beta(c - 2, r - 1)?;
        let bino4 = beta(c, r - 2)?;
        let bino5 = beta(c - 3, r)?;
        let j = if target <= bino1 + bino3 {
            bino4
        } else if target >= range.saturating_sub(bino5) {
            bino1
        } else {
            target - bino2 - bino3
        };
        usize::try_from(j).ok()
    })() else {
        return fallback;
    };
    found.max(1)
}

/// What a schedule costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScheduleStats {
    /// Steps reversed (the trip count).
    pub reverses: u64,
    /// Forward steps run (`Advance` steps summed).
    pub advances: u64,
    /// `Snapshot` actions (copies of a state made).
    pub snapshots: u64,
    /// `Restore` actions.
    pub restores: u64,
    /// The most snapshots held at once. The executor holds at most one
    /// more state: the current one.
    pub max_snapshots: u64,
}

impl ScheduleStats {
    /// Forward steps run per step reversed (0 for no steps).
    pub fn recompute_factor(&self) -> f64 {
        if self.reverses == 0 {
            0.0
        } else {
            self.advances as f64 / self.reverses as f64
        }
    }
}

/// Runs the schedule for `n` steps under `policy` and counts its actions.
pub fn stats(n: usize, policy: Checkpoint) -> Result<ScheduleStats, BadCheckpoint> {
    let mut s = ScheduleStats::default();
    for action in Schedule::new(n, policy)? {
        match action {
            Action::Snapshot { slot, .. } => {
                s.snapshots += 1;
                s.max_snapshots = s.max_snapshots.max(slot as u64 + 1);
            }
            Action::Restore { .. } => s.restores += 1,
            Action::Advance { steps, .. } => s.advances += steps as u64,
            Action::Reverse { .. } => s.reverses += 1,
        }
    }
    Ok(s)
}

/// The fewest forward steps any schedule with `s ≥ 1` snapshots needs to
/// reverse `n` steps: `r·n − β(s+1, r−1)` for the least `r` with
/// `β(s, r) ≥ n` (0 for `n ≤ 1`). `None` on overflow.
pub fn binomial_min_advances(n: u64, s: u64) -> Option<u128> {
    if n <= 1 {
        return Some(0);
    }
    let s = i64::try_from(s.min(n)).ok()?;
    let mut r: i64 = 0;
    while beta(s, r)? < u128::from(n) {
        r += 1;
    }
    (r as u128)
        .checked_mul(u128::from(n))?
        .checked_sub(beta(s + 1, r - 1)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Executes a schedule symbolically and checks its invariants; returns
    /// its statistics.
    fn run(n: usize, policy: Checkpoint) -> ScheduleStats {
        let mut slots: Vec<usize> = Vec::new();
        let mut current = Some(0usize);
        let mut next_reverse = n;
        let mut s = ScheduleStats::default();
        for a in Schedule::new(n, policy).unwrap() {
            match a {
                Action::Snapshot { slot, position } => {
                    assert_eq!(current, Some(position), "{a:?}");
                    assert!(slot <= slots.len(), "{a:?} over {slots:?}");
                    slots.truncate(slot);
                    slots.push(position);
                    s.snapshots += 1;
                }
                Action::Restore { slot, position } => {
                    assert_eq!(slots.get(slot), Some(&position), "{a:?}");
                    slots.truncate(slot + 1);
                    current = Some(position);
                    s.restores += 1;
                }
                Action::Advance { from, steps } => {
                    assert_eq!(current, Some(from), "{a:?}");
                    assert!(steps >= 1);
                    current = Some(from + steps);
                    assert!(from + steps < next_reverse, "advances past the steps left");
                    s.advances += steps as u64;
                }
                Action::Reverse { step } => {
                    assert_eq!(step + 1, next_reverse, "steps reversed in order");
                    assert_eq!(current, Some(step));
                    current = None;
                    next_reverse = step;
                    s.reverses += 1;
                    // Snapshots at or past the reversed step are dead.
                    while slots.last().is_some_and(|&p| p >= step) {
                        slots.pop();
                    }
                }
            }
            s.max_snapshots = s.max_snapshots.max(slots.len() as u64);
        }
        assert_eq!(next_reverse, 0, "every step reversed");
        assert_eq!(s.reverses, n as u64);
        s
    }

    /// The least forward steps of any schedule, by dynamic programming
    /// over the first split: `F(l, s) = min_j j + F(l−j, s−1) + F(j, s)`.
    fn optimal(max_l: usize, max_s: usize) -> Vec<Vec<u64>> {
        let mut f = vec![vec![0u64; max_s + 1]; max_l + 1];
        for l in 2..=max_l {
            f[l][1] = (l * (l - 1) / 2) as u64;
            for s in 2..=max_s {
                f[l][s] = (1..l)
                    .map(|j| j as u64 + f[l - j][s - 1] + f[j][s])
                    .min()
                    .unwrap();
            }
        }
        f
    }

    #[test]
    fn every_policy_reverses_each_step_once() {
        for n in 0..60 {
            run(n, Checkpoint::All);
            for k in 1..9 {
                run(n, Checkpoint::Every(k));
            }
            for s in 1..9 {
                run(n, Checkpoint::Binomial(s));
            }
        }
    }

    #[test]
    fn store_all_never_recomputes() {
        for n in 1..50 {
            let s = run(n, Checkpoint::All);
            assert_eq!(s.advances, n as u64 - 1);
            assert_eq!(s.max_snapshots, (n as u64).saturating_sub(1));
        }
        assert_eq!(run(0, Checkpoint::All), ScheduleStats::default());
    }

    #[test]
    fn every_k_holds_segments() {
        for n in 1..80usize {
            for k in 1..12usize {
                let s = run(n, Checkpoint::Every(k as u64));
                let bound = n.div_ceil(k) + k.saturating_sub(2);
                assert!(
                    s.max_snapshots as usize <= bound.max(1),
                    "n={n} k={k}: {s:?}"
                );
                assert!(s.advances < 2 * n as u64, "n={n} k={k}: {s:?}");
            }
        }
        // k dividing n: every state is run at most twice.
        let s = run(100, Checkpoint::Every(10));
        assert_eq!(s.max_snapshots, 10 + 8);
        // First sweep to the last segment start (90), then 9 steps per segment.
        assert_eq!(s.advances, 90 + 10 * 9);
    }

    #[test]
    fn binomial_is_optimal_and_within_its_snapshots() {
        let f = optimal(160, 7);
        for (l, best) in f.iter().enumerate().skip(1) {
            for (s, &best) in best.iter().enumerate().skip(1) {
                let st = run(l, Checkpoint::Binomial(s as u64));
                assert!(st.max_snapshots <= s as u64, "l={l} s={s}: {st:?}");
                assert_eq!(st.advances, best, "l={l} s={s}: {st:?}");
                assert_eq!(
                    u128::from(st.advances),
                    binomial_min_advances(l as u64, s as u64).unwrap(),
                    "l={l} s={s}"
                );
            }
        }
    }

    #[test]
    fn binomial_on_long_loops() {
        for &(n, s) in &[
            (100_000usize, 10u64),
            (100_000, 3),
            (12_345, 1),
            (99_999, 40),
        ] {
            let st = run(n, Checkpoint::Binomial(s));
            assert!(st.max_snapshots <= s);
            assert_eq!(
                u128::from(st.advances),
                binomial_min_advances(n as u64, s).unwrap()
            );
        }
        // One snapshot: every state is recomputed from c_0.
        let st = run(12_345, Checkpoint::Binomial(1));
        assert_eq!(st.advances, 12_345 * 12_344 / 2);
        // More snapshots than steps: store-all.
        assert_eq!(run(50, Checkpoint::Binomial(60)), run(50, Checkpoint::All));
    }

    #[test]
    fn snapshot_bound_is_enough() {
        // The stack holds `snapshot_bound` entries and a schedule stops
        // early when it is full: every step must still be reversed.
        let mut policies = vec![Checkpoint::All];
        policies.extend([1, 2, 3, 7, 10, 32, 1000].map(Checkpoint::Every));
        policies.extend([1, 2, 3, 4, 5, 8, 20].map(Checkpoint::Binomial));
        for policy in policies {
            for n in (0..300).chain([1000, 1023, 4097]) {
                let s = stats(n, policy).unwrap();
                assert_eq!(s.reverses, n as u64, "{policy} n={n}");
                let mut stack = vec![0; snapshot_bound(policy, n)];
                let on: Vec<Action> = ScheduleOn::new(n, policy, &mut stack).collect();
                let owned: Vec<Action> = Schedule::new(n, policy).unwrap().collect();
                assert_eq!(on, owned, "{policy} n={n}");
            }
        }
    }

    #[test]
    fn stats_agree_with_the_checked_run() {
        for &p in &[
            Checkpoint::All,
            Checkpoint::Every(7),
            Checkpoint::Binomial(3),
        ] {
            for n in [0, 1, 2, 9, 100] {
                assert_eq!(stats(n, p).unwrap(), run(n, p));
            }
        }
    }

    #[test]
    fn binomial_coefficients() {
        assert_eq!(beta(2, 3), Some(10));
        assert_eq!(beta(0, 5), Some(1));
        assert_eq!(beta(-1, 5), Some(0));
        assert_eq!(beta(3, -1), Some(0));
        // Pascal's rule, over a range where nothing overflows.
        for c in 1..40 {
            for r in 1..40 {
                assert_eq!(
                    beta(c, r).unwrap(),
                    beta(c, r - 1).unwrap() + beta(c - 1, r).unwrap()
                );
            }
        }
        assert_eq!(beta(200, 200), None);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(Schedule::new(5, Checkpoint::Every(0)).is_err());
        assert!(Schedule::new(5, Checkpoint::Binomial(0)).is_err());
        assert_eq!(Checkpoint::Every(3).to_string(), "every(3)");
        assert_eq!(Checkpoint::Binomial(4).to_string(), "binomial(4)");
        assert!(Checkpoint::default().is_default());
    }
}
