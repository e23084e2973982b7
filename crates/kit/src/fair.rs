//! Sharing a service between users: a bounded queue served round-robin
//! across its owners, and a per-owner cap on work in progress.
//!
//! Both are plain data structures, driven by unit tests without a model or
//! an OCR engine. The LLM engine thread and the OCR workers block on a
//! [`FairChannel`]; the handlers take an [`OwnerLimit`] permit for every
//! request they accept, and the permit travels with the work until it ends.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// A bounded FIFO per owner, served round-robin: every owner with queued
/// items gets one in turn, whatever their arrival order, so one owner's
/// burst does not stand in front of everybody else.
#[derive(Debug)]
pub struct FairQueue<T> {
    queues: HashMap<String, VecDeque<T>>,
    /// Owners with at least one item, in the order they are served.
    turn: VecDeque<String>,
    len: usize,
    capacity: usize,
    /// Most items one owner may have queued; 0: only `capacity` applies.
    owner_capacity: usize,
}

/// Why an item was not queued; it comes back inside.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    /// The queue holds its capacity already.
    Full(T),
    /// The owner holds its share of the queue already.
    OwnerFull(T),
}

impl<T> FairQueue<T> {
    pub fn new(capacity: usize) -> Self {
        Self::with_owner_capacity(capacity, 0)
    }

    /// A queue where one owner may hold at most `owner_capacity` items
    /// (0: no such limit), so that others always find room.
    pub fn with_owner_capacity(capacity: usize, owner_capacity: usize) -> Self {
        Self {
            queues: HashMap::new(),
            turn: VecDeque::new(),
            len: 0,
            capacity: capacity.max(1),
            owner_capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Items queued for `owner`.
    pub fn queued_for(&self, owner: &str) -> usize {
        self.queues.get(owner).map_or(0, VecDeque::len)
    }

    /// Queues `item` behind `owner`'s earlier items; a full queue, or an
    /// owner with its share queued, hands it back.
    pub fn push(&mut self, owner: &str, item: T) -> Result<(), Refused<T>> {
        if self.len >= self.capacity {
            return Err(Refused::Full(item));
        }
        if self.owner_capacity > 0 && self.queued_for(owner) >= self.owner_capacity {
            return Err(Refused::OwnerFull(item));
        }
        let queue = self.queues.entry(owner.to_owned()).or_default();
        if queue.is_empty() {
            self.turn.push_back(owner.to_owned());
        }
        queue.push_back(item);
        self.len += 1;
        Ok(())
    }

    /// The next item: the oldest of the owner whose turn it is. That owner
    /// goes to the back of the turn if it has more.
    pub fn pop(&mut self) -> Option<T> {
        let owner = self.turn.pop_front()?;
        let queue = self.queues.get_mut(&owner)?;
        let item = queue.pop_front();
        if queue.is_empty() {
            self.queues.remove(&owner);
        } else {
            self.turn.push_back(owner);
        }
        if item.is_some() {
            self.len -= 1;
        }
        item
    }

    /// Drops the items for which `keep` is false (cancelled work).
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for queue in self.queues.values_mut() {
            queue.retain(&mut keep);
        }
        self.queues.retain(|_, q| !q.is_empty());
        let queues = &self.queues;
        self.turn.retain(|o| queues.contains_key(o));
        self.len = self.queues.values().map(VecDeque::len).sum();
    }
}

/// Why an item was not sent.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The queue holds its capacity already.
    Full(T),
    /// The owner holds its share of the queue already.
    OwnerFull(T),
    /// Every sender is gone.
    Closed(T),
}

struct Channel<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

struct State<T> {
    queue: FairQueue<T>,
    closed: bool,
}

/// A [`FairQueue`] shared between threads: senders never block (a full
/// queue is refused at once), receivers wait for the next item in turn.
/// Dropping the last [`FairSender`] closes it; receivers then drain what is
/// left and get `None`.
pub struct FairChannel<T> {
    inner: Arc<Channel<T>>,
}

impl<T> Clone for FairChannel<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

/// The sending side; the channel closes when the last clone is dropped.
pub struct FairSender<T> {
    channel: FairChannel<T>,
    _alive: Arc<CloseOnDrop<T>>,
}

impl<T> Clone for FairSender<T> {
    fn clone(&self) -> Self {
        Self {
            channel: self.channel.clone(),
            _alive: self._alive.clone(),
        }
    }
}

struct CloseOnDrop<T>(FairChannel<T>);

impl<T> Drop for CloseOnDrop<T> {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.inner.ready.notify_all();
    }
}

/// A bounded fair channel: the sender and a receiver (clone it for more).
pub fn fair_channel<T>(capacity: usize) -> (FairSender<T>, FairChannel<T>) {
    fair_channel_with_owner_capacity(capacity, 0)
}

/// A bounded fair channel where one owner may have at most
/// `owner_capacity` items queued (0: no such limit).
pub fn fair_channel_with_owner_capacity<T>(
    capacity: usize,
    owner_capacity: usize,
) -> (FairSender<T>, FairChannel<T>) {
    let channel = FairChannel {
        inner: Arc::new(Channel {
            state: Mutex::new(State {
                queue: FairQueue::with_owner_capacity(capacity, owner_capacity),
                closed: false,
            }),
            ready: Condvar::new(),
        }),
    };
    let sender = FairSender {
        channel: channel.clone(),
        _alive: Arc::new(CloseOnDrop(channel.clone())),
    };
    (sender, channel)
}

impl<T> FairSender<T> {
    pub fn send(&self, owner: &str, item: T) -> Result<(), SendError<T>> {
        let mut state = self.channel.lock();
        if state.closed {
            return Err(SendError::Closed(item));
        }
        state
            .queue
            .push(owner, item)
            .map_err(|refused| match refused {
                Refused::Full(item) => SendError::Full(item),
                Refused::OwnerFull(item) => SendError::OwnerFull(item),
            })?;
        drop(state);
        self.channel.inner.ready.notify_one();
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.channel.len()
    }

    /// Items of `owner`'s waiting.
    pub fn queued_for(&self, owner: &str) -> usize {
        self.channel.lock().queue.queued_for(owner)
    }

    pub fn is_empty(&self) -> bool {
        self.channel.len() == 0
    }
}

impl<T> FairChannel<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock leaves the queue consistent (every
        // method finishes its update before anything can panic).
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The next item, waiting for one; `None` once closed and drained.
    pub fn recv(&self) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.queue.pop() {
                return Some(item);
            }
            if state.closed {
                return None;
            }
            state = self
                .inner
                .ready
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// The next item if one comes before `deadline`.
    pub fn recv_deadline(&self, deadline: Instant) -> Option<T> {
        let mut state = self.lock();
        loop {
            if let Some(item) = state.queue.pop() {
                return Some(item);
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return None;
            }
            state = self
                .inner
                .ready
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .0;
        }
    }

    /// The next item if one is queued now.
    pub fn try_recv(&self) -> Option<T> {
        self.lock().queue.pop()
    }

    /// Whether every sender is gone.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Drops queued items for which `keep` is false.
    pub fn retain(&self, keep: impl FnMut(&T) -> bool) {
        self.lock().queue.retain(keep);
    }
}

/// A cap on the work one owner has in progress (queued and running).
#[derive(Clone, Debug)]
pub struct OwnerLimit {
    max: usize,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

/// One unit of an owner's allowance, given back when dropped.
#[derive(Debug)]
pub struct OwnerPermit {
    owner: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

/// The owner holds its limit already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("at most {limit} at once per user")]
pub struct AtLimit {
    pub limit: usize,
}

impl OwnerLimit {
    /// `max` units per owner; 0 means no limit.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            counts: Arc::default(),
        }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    fn counts(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Units `owner` holds now.
    pub fn held_by(&self, owner: &str) -> usize {
        self.counts().get(owner).copied().unwrap_or(0)
    }

    pub fn acquire(&self, owner: &str) -> Result<OwnerPermit, AtLimit> {
        let mut counts = self.counts();
        let held = counts.entry(owner.to_owned()).or_insert(0);
        if self.max > 0 && *held >= self.max {
            return Err(AtLimit { limit: self.max });
        }
        *held += 1;
        Ok(OwnerPermit {
            owner: owner.to_owned(),
            counts: self.counts.clone(),
        })
    }
}

impl OwnerPermit {
    pub fn owner(&self) -> &str {
        &self.owner
    }
}

impl Drop for OwnerPermit {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(held) = counts.get_mut(&self.owner) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.remove(&self.owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn drain<T>(q: &mut FairQueue<T>) -> Vec<T> {
        std::iter::from_fn(|| q.pop()).collect()
    }

    #[test]
    fn owners_take_turns_whatever_the_arrival_order() {
        let mut q = FairQueue::new(100);
        for i in 0..4 {
            q.push("a", format!("a{i}")).unwrap();
        }
        q.push("b", "b0".to_string()).unwrap();
        q.push("b", "b1".to_string()).unwrap();
        q.push("c", "c0".to_string()).unwrap();
        assert_eq!(q.len(), 7);
        assert_eq!(
            drain(&mut q),
            ["a0", "b0", "c0", "a1", "b1", "a2", "a3"].map(String::from)
        );
        assert!(q.is_empty());
    }

    #[test]
    fn a_newcomer_is_served_before_the_rest_of_a_burst() {
        let mut q = FairQueue::new(100);
        for i in 0..10 {
            q.push("burst", i).unwrap();
        }
        assert_eq!(q.pop(), Some(0));
        q.push("late", 100).unwrap();
        assert_eq!(q.pop(), Some(1));
        assert_eq!(
            q.pop(),
            Some(100),
            "the late owner waits one turn, not nine"
        );
    }

    #[test]
    fn a_full_queue_hands_the_item_back() {
        let mut q = FairQueue::new(2);
        q.push("a", 1).unwrap();
        q.push("b", 2).unwrap();
        assert_eq!(q.push("c", 3), Err(Refused::Full(3)));
        assert_eq!(q.queued_for("a"), 1);
        assert_eq!(q.queued_for("c"), 0);
        q.pop();
        assert!(q.push("c", 3).is_ok());
    }

    #[test]
    fn an_owner_cannot_take_more_than_its_share() {
        let mut q = FairQueue::with_owner_capacity(10, 2);
        q.push("a", 1).unwrap();
        q.push("a", 2).unwrap();
        assert_eq!(q.push("a", 3), Err(Refused::OwnerFull(3)));
        assert!(q.push("b", 4).is_ok(), "others still find room");
        q.pop();
        assert!(q.push("a", 3).is_ok(), "room again once one was served");
    }

    #[test]
    fn retain_drops_items_and_empty_owners() {
        let mut q = FairQueue::new(10);
        q.push("a", 1).unwrap();
        q.push("b", 2).unwrap();
        q.push("b", 3).unwrap();
        q.retain(|&i| i != 1 && i != 3);
        assert_eq!(q.len(), 1);
        assert_eq!(q.queued_for("a"), 0);
        assert_eq!(drain(&mut q), vec![2]);
    }

    #[test]
    fn the_channel_closes_when_the_last_sender_goes() {
        let (tx, rx) = fair_channel::<u32>(4);
        let tx2 = tx.clone();
        tx.send("a", 1).unwrap();
        drop(tx);
        assert!(!rx.is_closed(), "one sender is left");
        tx2.send("a", 2).unwrap();
        drop(tx2);
        assert!(rx.is_closed());
        assert_eq!(rx.recv(), Some(1), "queued items are still delivered");
        assert_eq!(rx.recv(), Some(2));
        assert_eq!(rx.recv(), None);
    }

    #[test]
    fn the_channel_refuses_past_capacity_and_wakes_a_waiting_receiver() {
        let (tx, rx) = fair_channel::<u32>(1);
        let waiter = std::thread::spawn(move || rx.recv());
        std::thread::sleep(Duration::from_millis(20));
        tx.send("a", 7).unwrap();
        assert_eq!(waiter.join().unwrap(), Some(7));
        tx.send("a", 8).unwrap();
        assert_eq!(tx.send("b", 9), Err(SendError::Full(9)));
    }

    #[test]
    fn recv_deadline_times_out_on_an_empty_channel() {
        let (_tx, rx) = fair_channel::<u32>(1);
        let start = Instant::now();
        assert_eq!(rx.recv_deadline(start + Duration::from_millis(30)), None);
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(rx.try_recv(), None);
    }

    #[test]
    fn an_owner_is_held_to_its_limit_and_permits_give_back() {
        let limit = OwnerLimit::new(2);
        let a1 = limit.acquire("a").unwrap();
        let _a2 = limit.acquire("a").unwrap();
        assert_eq!(limit.acquire("a").unwrap_err(), AtLimit { limit: 2 });
        let _b = limit.acquire("b").expect("another owner is not affected");
        drop(a1);
        assert_eq!(limit.held_by("a"), 1);
        assert!(limit.acquire("a").is_ok());
    }

    #[test]
    fn a_zero_limit_means_none() {
        let limit = OwnerLimit::new(0);
        let permits: Vec<_> = (0..50).map(|_| limit.acquire("a").unwrap()).collect();
        assert_eq!(limit.held_by("a"), 50);
        drop(permits);
        assert_eq!(limit.held_by("a"), 0);
    }
}
