//! An item's job slot (`--jobs`) and its own clock (`--item-timeout`).
//!
//! While an item waits for a person (a manual login, queued behind the other items' logins), it
//! lends its slot to another item and its clock stands still. The item timeout bounds the harness
//! and the target; a person with a hardware token is bounded by `login.timeout_secs` instead.
//! Without this, items queued for their login would hold every slot, so the items that need no
//! login could not run meanwhile, and would time out while a person worked through the queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// While away, the clock is looked at this often: a person takes seconds, not milliseconds.
const AWAY_POLL: Duration = Duration::from_secs(1);

pub struct Slot {
    semaphore: Arc<Semaphore>,
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    away: Mutex<Away>,
}

#[derive(Default)]
struct Away {
    /// Time away before the current absence.
    total: Duration,
    /// When the current absence began.
    since: Option<Instant>,
}

impl Slot {
    /// Waits for a free job slot.
    pub async fn take(semaphore: Arc<Semaphore>) -> Slot {
        // The semaphore is never closed, so acquiring cannot fail.
        let permit = semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        Slot {
            semaphore,
            permit: Mutex::new(Some(permit)),
            away: Mutex::default(),
        }
    }

    /// Gives the job slot to another item and stops the clock, until `back`.
    pub fn step_away(&self) {
        self.permit.lock().unwrap_or_else(|e| e.into_inner()).take();
        let mut away = self.away.lock().unwrap_or_else(|e| e.into_inner());
        away.since.get_or_insert_with(Instant::now);
    }

    /// Waits for a job slot again, then restarts the clock: waiting for a slot is not the item's
    /// own time either.
    pub async fn back(&self) {
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore open");
        *self.permit.lock().unwrap_or_else(|e| e.into_inner()) = Some(permit);
        let mut away = self.away.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = away.since.take() {
            away.total += since.elapsed();
        }
    }

    /// The item's own time since `start` (wall time minus time away), and whether it is away.
    fn own_time(&self, start: Instant) -> (Duration, bool) {
        let away = self.away.lock().unwrap_or_else(|e| e.into_inner());
        let current = away.since.map(|s| s.elapsed()).unwrap_or_default();
        let own = start.elapsed().saturating_sub(away.total + current);
        (own, away.since.is_some())
    }
}

/// Runs `fut` until it finishes (`Some`) or has had `limit` of its own time (`None`).
pub async fn within<F: Future>(limit: Duration, slot: &Slot, fut: F) -> Option<F::Output> {
    let start = Instant::now();
    tokio::pin!(fut);
    loop {
        let (own, away) = slot.own_time(start);
        if !away && own >= limit {
            return None;
        }
        let wake = if away { AWAY_POLL } else { limit - own };
        tokio::select! {
            out = &mut fut => return Some(out),
            () = tokio::time::sleep(wake) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn time_away_does_not_count_and_frees_the_slot() {
        let sem = Arc::new(Semaphore::new(1));
        let slot = Slot::take(sem.clone()).await;
        assert_eq!(sem.available_permits(), 0);
        let out = within(Duration::from_secs(10), &slot, async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            slot.step_away();
            assert_eq!(sem.available_permits(), 1, "the slot is lent while away");
            tokio::time::sleep(Duration::from_secs(60)).await;
            slot.back().await;
            tokio::time::sleep(Duration::from_secs(4)).await;
            "done"
        })
        .await;
        assert_eq!(out, Some("done"));
        assert_eq!(sem.available_permits(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn own_time_still_runs_out() {
        let sem = Arc::new(Semaphore::new(1));
        let slot = Slot::take(sem).await;
        let out = within(Duration::from_secs(10), &slot, async {
            slot.step_away();
            tokio::time::sleep(Duration::from_secs(30)).await;
            slot.back().await;
            tokio::time::sleep(Duration::from_secs(11)).await;
        })
        .await;
        assert_eq!(out, None);
    }
}
