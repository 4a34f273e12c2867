//! Connection limits that a configuration reload can change while the gateway serves.
//!
//! Timeouts and the head size apply to connections accepted after the change (an open
//! connection keeps what it was accepted with). `max_connections` resizes every listener's
//! slots at once: more slots are free immediately; fewer are taken back as connections
//! close, so no open connection is cut to enforce a lower limit.

use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::Semaphore;

use super::ConnectionLimits;

pub struct LiveLimits {
    current: RwLock<ConnectionLimits>,
    /// One semaphore per listener, `max_connections` permits each.
    slots: Mutex<Vec<Arc<Semaphore>>>,
}

impl LiveLimits {
    #[must_use]
    pub fn new(limits: ConnectionLimits) -> Arc<Self> {
        Arc::new(Self {
            current: RwLock::new(limits),
            slots: Mutex::default(),
        })
    }

    #[must_use]
    pub fn get(&self) -> ConnectionLimits {
        *self.current.read().expect("limits lock")
    }

    /// The connection slots of a new listener.
    pub(super) fn listener_slots(&self) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().expect("slots lock");
        let semaphore = Arc::new(Semaphore::new(self.get().max_connections));
        slots.push(Arc::clone(&semaphore));
        semaphore
    }

    /// Takes over `limits`. Must run inside the runtime (a lower connection limit leaves
    /// a task behind that takes slots back as connections close).
    pub fn set(&self, limits: ConnectionLimits) {
        // Under the slots lock, so two reloads cannot interleave their resizing.
        let slots = self.slots.lock().expect("slots lock");
        let old = std::mem::replace(&mut *self.current.write().expect("limits lock"), limits);
        let (before, after) = (old.max_connections, limits.max_connections);
        for semaphore in slots.iter() {
            if after > before {
                semaphore.add_permits(after - before);
            } else if before > after {
                shrink(semaphore, before - after);
            }
        }
    }
}

/// Removes `by` permits from `semaphore`: the free ones now, the rest as they are released.
fn shrink(semaphore: &Arc<Semaphore>, by: usize) {
    let owed = by - semaphore.forget_permits(by);
    if owed == 0 {
        return;
    }
    let semaphore = Arc::clone(semaphore);
    let owed = u32::try_from(owed).unwrap_or(u32::MAX);
    tokio::spawn(async move {
        if let Ok(permits) = semaphore.acquire_many_owned(owed).await {
            permits.forget();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            ..ConnectionLimits::default()
        }
    }

    #[tokio::test]
    async fn raising_and_lowering_the_limit_resizes_open_listeners() {
        let live = LiveLimits::new(limits(2));
        let slots = live.listener_slots();
        let held = Arc::clone(&slots).acquire_many_owned(2).await.unwrap();
        assert_eq!(slots.available_permits(), 0);

        live.set(limits(5));
        assert_eq!(slots.available_permits(), 3);
        assert_eq!(live.get().max_connections, 5);

        // Down to 1 while two connections are open: the three free slots go now, one more
        // when a connection closes, and none of the open ones is touched.
        live.set(limits(1));
        assert_eq!(slots.available_permits(), 0);
        drop(held);
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if slots.available_permits() == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(slots.available_permits(), 1);
        // A listener opened after the change starts with the new limit.
        assert_eq!(live.listener_slots().available_permits(), 1);
    }
}
