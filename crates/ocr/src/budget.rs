//! The decode budget: a process-wide allowance, in bytes, for decoded and
//! rendered pages. A page reserves what its decoding needs before a pixel
//! buffer is allocated, keeps what the decoded page holds until it has been
//! recognized, and gives the rest back at once. Decodes wait their turn
//! (first come, first served) rather than add up.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

/// The budget counts kibibytes, so that a `u32` of them covers any page.
const UNIT: u64 = 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BudgetError {
    /// The page alone needs more than the whole budget.
    #[error("decoding this page needs {need} bytes, more than the {budget} bytes this server decodes at once")]
    TooLarge { need: u64, budget: u64 },
    /// Other pages hold the budget and did not give it back in time.
    #[error("the server is decoding other pages; retry shortly")]
    Busy,
}

#[derive(Clone)]
pub struct DecodeBudget {
    units: Arc<Semaphore>,
    total: u64,
}

/// Bytes of the budget held; given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    units: Arc<Semaphore>,
    held: u32,
}

fn units(bytes: u64) -> u64 {
    bytes.div_ceil(UNIT)
}

impl DecodeBudget {
    pub fn new(bytes: u64) -> Self {
        let total = units(bytes).clamp(1, u64::from(u32::MAX)) as u32;
        Self {
            units: Arc::new(Semaphore::new(total as usize)),
            total: u64::from(total) * UNIT,
        }
    }

    /// The whole budget, in bytes.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes not reserved now.
    pub fn available(&self) -> u64 {
        self.units.available_permits() as u64 * UNIT
    }

    /// Reserve `need` bytes, waiting at most `wait` (forever if `None`).
    pub async fn reserve(
        &self,
        need: u64,
        wait: Option<Duration>,
    ) -> Result<Reservation, BudgetError> {
        if need > self.total {
            return Err(BudgetError::TooLarge {
                need,
                budget: self.total,
            });
        }
        let n = units(need) as u32;
        let acquire = self.units.clone().acquire_many_owned(n);
        let permit = match wait {
            None => acquire.await,
            Some(d) => tokio::time::timeout(d, acquire)
                .await
                .map_err(|_| BudgetError::Busy)?,
        }
        .map_err(|_| BudgetError::Busy)?;
        permit.forget();
        Ok(Reservation {
            units: self.units.clone(),
            held: n,
        })
    }
}

impl Reservation {
    /// Keep only `bytes` of the reservation (what the decoded page holds);
    /// the rest goes back to the budget now.
    pub fn shrink_to(&mut self, bytes: u64) {
        let keep = (units(bytes) as u32).min(self.held);
        self.units.add_permits((self.held - keep) as usize);
        self.held = keep;
    }

    /// Bytes held.
    pub fn bytes(&self) -> u64 {
        u64::from(self.held) * UNIT
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.units.add_permits(self.held as usize);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[tokio::test]
    async fn a_page_larger_than_the_budget_is_refused() {
        let budget = DecodeBudget::new(10 * MIB);
        let err = budget.reserve(11 * MIB, None).await.unwrap_err();
        assert_eq!(
            err,
            BudgetError::TooLarge {
                need: 11 * MIB,
                budget: 10 * MIB
            }
        );
    }

    #[tokio::test]
    async fn a_reservation_waits_for_room_then_times_out() {
        let budget = DecodeBudget::new(10 * MIB);
        let _held = budget.reserve(8 * MIB, None).await.unwrap();
        let wait = Some(Duration::from_millis(20));
        assert_eq!(
            budget.reserve(4 * MIB, wait).await.unwrap_err(),
            BudgetError::Busy
        );
    }

    #[tokio::test]
    async fn dropping_a_reservation_gives_its_bytes_back() {
        let budget = DecodeBudget::new(10 * MIB);
        let held = budget.reserve(8 * MIB, None).await.unwrap();
        assert_eq!(budget.available(), 2 * MIB);
        drop(held);
        assert_eq!(budget.available(), 10 * MIB);
    }

    #[tokio::test]
    async fn shrinking_returns_the_difference_at_once() {
        let budget = DecodeBudget::new(10 * MIB);
        let mut held = budget.reserve(8 * MIB, None).await.unwrap();
        held.shrink_to(MIB);
        assert_eq!((held.bytes(), budget.available()), (MIB, 9 * MIB));
        let wait = Some(Duration::from_millis(20));
        budget
            .reserve(9 * MIB, wait)
            .await
            .expect("the shrunk bytes are free");
    }
}
