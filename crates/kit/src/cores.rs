//! The process-wide core budget.
//!
//! Blocking engines (argon2, Tesseract, llama.cpp) each get a share of the
//! machine's cores, counted once for the whole process, so that services that
//! share one process do not oversubscribe the CPU.

use std::sync::OnceLock;

/// Cores available to this process (cgroup quota and affinity respected).
pub fn available() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| {
        std::env::var("SCRIPTORIUM_CORES")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            })
    })
}

/// How the core budget is split between the engines mounted in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreBudget {
    pub total: usize,
}

impl CoreBudget {
    pub fn detect() -> Self {
        Self { total: available() }
    }

    /// A share of `weight` out of `of`, never less than one core.
    pub fn share(&self, weight: usize, of: usize) -> usize {
        ((self.total * weight) / of.max(1)).max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_is_at_least_one_core() {
        let b = CoreBudget { total: 2 };
        assert_eq!(b.share(1, 4), 1);
        assert_eq!(b.share(1, 2), 1);
        assert_eq!(b.share(2, 2), 2);
        let b = CoreBudget { total: 16 };
        assert_eq!(b.share(1, 4), 4);
    }
}
