//! The period of a background loop, which a configuration reload may change while the loop
//! sleeps: the loop wakes at the change and sleeps the new period from then on.

use std::time::Duration;

use tokio::sync::watch;

pub struct Period(watch::Receiver<Duration>);

impl Period {
    /// A period that a sender can change.
    #[must_use]
    pub fn new(receiver: watch::Receiver<Duration>) -> Self {
        Self(receiver)
    }

    /// A period nothing changes.
    #[must_use]
    pub fn fixed(period: Duration) -> Self {
        Self(watch::channel(period).1)
    }

    /// The current period (marked seen, so [`Self::changed`] waits for the next change).
    pub fn current(&mut self) -> Duration {
        *self.0.borrow_and_update()
    }

    /// Waits for a new period; never returns once nothing can change it any more (a closed
    /// channel must not turn a sleeping loop into a spinning one).
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
