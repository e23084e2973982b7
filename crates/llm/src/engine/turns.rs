//! Whose tokens a decode step carries when several users are generating.
//!
//! On a CPU a step costs about as much per token as it carries, so sharing
//! steps evenly still doubles a short request's time next to one long
//! stream. Each user's recent service is kept instead (tokens fed, halving
//! every [`HALF_LIFE`]): a user far ahead of the least-served one is fed
//! one step in [`AHEAD_EVERY`], the others every step. A short request
//! from someone who has been quiet runs at nearly its idle speed; someone
//! who keeps generating is never stopped, only slowed while others catch
//! up, and two users who both keep generating end up even, one token each
//! per step.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How fast past service is forgotten.
pub const HALF_LIFE: Duration = Duration::from_secs(10);
/// Tokens of recent service beyond the least-served user's that make a
/// user "ahead".
pub const SLACK: f64 = 32.0;
/// A user ahead is fed once in this many steps.
pub const AHEAD_EVERY: u64 = 4;

/// A generating slot, as the step sees it.
#[derive(Debug, Clone, Copy)]
pub struct Generating<'a> {
    pub slot: usize,
    pub owner: &'a str,
    /// The step that last carried this slot's token.
    pub last_fed: u64,
}

#[derive(Debug, Clone, Copy)]
struct Served {
    tokens: f64,
    at: Instant,
    /// The step that last carried one of this user's tokens.
    step: u64,
}

impl Served {
    fn at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens * 0.5f64.powf(elapsed / HALF_LIFE.as_secs_f64())
    }
}

/// Every user's recent service.
#[derive(Debug, Default)]
pub struct Turns {
    served: HashMap<String, Served>,
}

impl Turns {
    /// The slots step `step` carries, and the service recorded for them.
    /// With one user generating, all of that user's slots; with several,
    /// one slot per user (the one fed longest ago), leaving out, except one
    /// step in [`AHEAD_EVERY`], the users more than [`SLACK`] tokens ahead
    /// of the least-served one.
    pub fn pick(&mut self, generating: &[Generating<'_>], step: u64, now: Instant) -> Vec<usize> {
        let first = generating.first().map(|g| g.owner);
        if generating.iter().all(|g| Some(g.owner) == first) {
            if let Some(owner) = first {
                self.record(owner, generating.len(), step, now);
            }
            return generating.iter().map(|g| g.slot).collect();
        }
        let mut users: Vec<Generating<'_>> = Vec::new();
        for g in generating {
            match users.iter_mut().find(|u| u.owner == g.owner) {
                Some(u) if g.last_fed < u.last_fed => *u = *g,
                Some(_) => {}
                None => users.push(*g),
            }
        }
        let service: Vec<(f64, u64)> = users
            .iter()
            .map(|u| {
                self.served
                    .get(u.owner)
                    .map_or((0.0, 0), |s| (s.at(now), s.step))
            })
            .collect();
        let least = service.iter().map(|s| s.0).fold(f64::INFINITY, f64::min);
        let mut picked = Vec::new();
        for (u, (tokens, last)) in users.iter().zip(service) {
            let ahead = tokens > least + SLACK;
            if !ahead || step.saturating_sub(last) >= AHEAD_EVERY {
                self.record(u.owner, 1, step, now);
                picked.push(u.slot);
            }
        }
        self.forget(now);
        picked
    }

    fn record(&mut self, owner: &str, tokens: usize, step: u64, now: Instant) {
        let s = self.served.entry(owner.to_owned()).or_insert(Served {
            tokens: 0.0,
            at: now,
            step,
        });
        s.tokens = s.at(now) + tokens as f64;
        s.at = now;
        s.step = step;
    }

    /// Drops users whose service has decayed to nothing, so the ledger
    /// holds the recently active only.
    fn forget(&mut self, now: Instant) {
        if self.served.len() > 64 {
            self.served.retain(|_, s| s.at(now) >= 0.5);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(slot: usize, owner: &str, last_fed: u64) -> Generating<'_> {
        Generating {
            slot,
            owner,
            last_fed,
        }
    }

    #[test]
    fn one_user_runs_every_slot() {
        let mut t = Turns::default();
        let now = Instant::now();
        let all = [gen(0, "a", 5), gen(1, "a", 5), gen(3, "a", 2)];
        assert_eq!(t.pick(&all, 6, now), [0, 1, 3]);
        assert!(t.pick(&[], 7, now).is_empty());
    }

    #[test]
    fn users_even_in_service_advance_one_slot_each_in_turn() {
        let mut t = Turns::default();
        let now = Instant::now();
        // a has two streams, b one: one of a's (the one fed longest ago) and b's.
        let picked = t.pick(&[gen(0, "a", 7), gen(1, "a", 6), gen(2, "b", 7)], 8, now);
        assert_eq!(picked, [1, 2]);
        let picked = t.pick(&[gen(0, "a", 7), gen(1, "a", 8), gen(2, "b", 8)], 9, now);
        assert_eq!(picked, [0, 2]);
    }

    #[test]
    fn a_user_far_ahead_gets_one_step_in_four_until_the_other_catches_up() {
        let mut t = Turns::default();
        let now = Instant::now();
        // a has generated alone for a while.
        for step in 1..=100 {
            t.pick(&[gen(0, "a", step - 1)], step, now);
        }
        // b starts: b every step, a one step in AHEAD_EVERY.
        let mut fed_a = 0;
        let mut fed_b = 0;
        for step in 101..=140 {
            let picked = t.pick(&[gen(0, "a", 0), gen(1, "b", 0)], step, now);
            fed_a += picked.contains(&0) as u32;
            fed_b += picked.contains(&1) as u32;
        }
        assert_eq!(fed_b, 40);
        assert_eq!(fed_a, 40 / AHEAD_EVERY as u32);
        // Once b is within SLACK of a, both every step.
        for step in 141..=300 {
            t.pick(&[gen(0, "a", 0), gen(1, "b", 0)], step, now);
        }
        assert_eq!(t.pick(&[gen(0, "a", 0), gen(1, "b", 0)], 301, now), [0, 1]);
    }

    #[test]
    fn past_service_is_forgotten() {
        let mut t = Turns::default();
        let then = Instant::now();
        for step in 1..=100 {
            t.pick(&[gen(0, "a", step - 1)], step, then);
        }
        // Ten half-lives later a's hundred tokens count for less than SLACK.
        let later = then + HALF_LIFE * 10;
        assert_eq!(
            t.pick(&[gen(0, "a", 0), gen(1, "b", 0)], 101, later),
            [0, 1]
        );
    }
}
