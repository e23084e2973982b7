//! Whose tokens a decode step carries when several users are generating.
//!
//! On a CPU a step costs about as much per token as it carries, so sharing
//! steps evenly still doubles a short request's time next to one long
//! stream. The step goes by attained service instead, as least-attained-
//! service schedulers do: each user's youngest request (fewest tokens
//! generated) stands for the user, and a user whose youngest request is
//! more than [`SLACK`] tokens older than the youngest of all is fed one
//! step in [`AHEAD_EVERY`], the others every step. A short request runs at
//! nearly its idle speed beside another user's long streams; the long
//! streams are slowed while it runs, never stopped; two long streams of
//! different users stand even once the younger has caught up, one token
//! each per step. Each user still carries one slot per step whatever the
//! number of its streams, in turn over them.

/// Tokens by which a user's youngest request may be older than the
/// youngest of all before that user waits its turn.
pub const SLACK: u32 = 2;
/// A user ahead is fed once in this many steps.
pub const AHEAD_EVERY: u64 = 4;

/// A generating slot, as the step sees it.
#[derive(Debug, Clone, Copy)]
pub struct Generating<'a> {
    pub slot: usize,
    pub owner: &'a str,
    /// The step that last carried this slot's token.
    pub last_fed: u64,
    /// Tokens the slot's request has generated so far.
    pub generated: u32,
}

/// One user's share of the step being planned.
struct User<'a> {
    owner: &'a str,
    /// The slot fed longest ago: the one this user's turn goes to.
    slot: usize,
    slot_fed: u64,
    /// The step that last carried any of this user's tokens.
    fed: u64,
    /// The youngest request's tokens.
    youngest: u32,
}

/// The slots step `step` carries: with one user generating, all of that
/// user's slots; with several, one slot per user (the one fed longest ago),
/// leaving out, except one step in [`AHEAD_EVERY`], the users whose
/// youngest request is more than [`SLACK`] tokens older than the youngest.
pub fn pick(generating: &[Generating<'_>], step: u64) -> Vec<usize> {
    let first = generating.first().map(|g| g.owner);
    if generating.iter().all(|g| Some(g.owner) == first) {
        return generating.iter().map(|g| g.slot).collect();
    }
    let mut users: Vec<User<'_>> = Vec::new();
    for g in generating {
        match users.iter_mut().find(|u| u.owner == g.owner) {
            Some(u) => {
                if g.last_fed < u.slot_fed {
                    u.slot = g.slot;
                    u.slot_fed = g.last_fed;
                }
                u.fed = u.fed.max(g.last_fed);
                u.youngest = u.youngest.min(g.generated);
            }
            None => users.push(User {
                owner: g.owner,
                slot: g.slot,
                slot_fed: g.last_fed,
                fed: g.last_fed,
                youngest: g.generated,
            }),
        }
    }
    let youngest = users.iter().map(|u| u.youngest).min().unwrap_or(0);
    users
        .iter()
        .filter(|u| u.youngest <= youngest + SLACK || step.saturating_sub(u.fed) >= AHEAD_EVERY)
        .map(|u| u.slot)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(slot: usize, owner: &str, last_fed: u64, generated: u32) -> Generating<'_> {
        Generating {
            slot,
            owner,
            last_fed,
            generated,
        }
    }

    #[test]
    fn one_user_runs_every_slot() {
        let all = [gen(0, "a", 5, 900), gen(1, "a", 5, 3), gen(3, "a", 2, 40)];
        assert_eq!(pick(&all, 6), [0, 1, 3]);
        assert!(pick(&[], 7).is_empty());
    }

    #[test]
    fn users_even_in_service_advance_one_slot_each_in_turn() {
        // a has two streams, b one: one of a's (the one fed longest ago) and b's.
        let picked = pick(
            &[gen(0, "a", 7, 10), gen(1, "a", 6, 12), gen(2, "b", 7, 11)],
            8,
        );
        assert_eq!(picked, [1, 2]);
        let picked = pick(
            &[gen(0, "a", 7, 10), gen(1, "a", 8, 13), gen(2, "b", 8, 12)],
            9,
        );
        assert_eq!(picked, [0, 2]);
    }

    /// Users a and b with one stream each, `generated` tokens so far, for
    /// `steps` steps: the tokens each was carried, and their last slots.
    fn run(mut generated: [u32; 2], steps: u64) -> ([u32; 2], [Generating<'static>; 2]) {
        let mut fed = [0u64; 2];
        let mut carried = [0u32; 2];
        let slots = |fed: [u64; 2], generated: [u32; 2]| {
            [
                gen(0, "a", fed[0], generated[0]),
                gen(1, "b", fed[1], generated[1]),
            ]
        };
        for step in 1..=steps {
            for s in pick(&slots(fed, generated), step) {
                fed[s] = step;
                generated[s] += 1;
                carried[s] += 1;
            }
        }
        (carried, slots(fed, generated))
    }

    #[test]
    fn a_long_stream_gets_one_step_in_four_beside_a_young_request() {
        assert_eq!(run([500, 0], 40).0, [10, 40]);
    }

    #[test]
    fn a_younger_long_stream_catches_up_then_both_share_every_step() {
        let (_, slots) = run([100, 0], 200);
        // b caught up within SLACK of a, and from then on both every step.
        let (a, b) = (slots[0].generated, slots[1].generated);
        assert!(a.abs_diff(b) <= SLACK + 1, "{a} and {b}");
        assert_eq!(pick(&slots, 201), [0, 1]);
    }

    #[test]
    fn a_users_youngest_request_stands_for_it() {
        // a has an old and a young stream: a is not ahead of b.
        let slots = [gen(0, "a", 9, 800), gen(1, "a", 8, 2), gen(2, "b", 9, 4)];
        assert_eq!(pick(&slots, 10), [1, 2]);
    }
}
