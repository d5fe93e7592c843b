//! Who watches which payment (`WatchPayment`): one broadcast channel per watched payment, made
//! by its first watcher and dropped with its last, so that a change wakes only the watchers of
//! that payment, not every watcher of the server.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use ompp::proto::v1 as pb;
use tokio::sync::broadcast;

/// Changes a watcher may fall behind by before it re-reads the payment instead.
const BACKLOG: usize = 16;

/// The watched payments.
#[derive(Debug, Default)]
pub(crate) struct Watchers {
    channels: Mutex<HashMap<String, broadcast::Sender<pb::Payment>>>,
}

impl Watchers {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, broadcast::Sender<pb::Payment>>> {
        // A panic while holding this lock leaves the map consistent: use it anyway.
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts watching `payment_id`: every change sent from now on reaches the returned watch.
    pub(crate) fn subscribe(self: &Arc<Self>, payment_id: &str) -> Watch {
        let receiver = self
            .lock()
            .entry(payment_id.to_owned())
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .subscribe();
        Watch {
            receiver,
            payment_id: payment_id.to_owned(),
            watchers: self.clone(),
        }
    }

    /// Whether anyone watches `payment_id`.
    pub(crate) fn watched(&self, payment_id: &str) -> bool {
        self.lock().contains_key(payment_id)
    }

    /// Hands a change of a payment to its watchers, if it has any.
    pub(crate) fn send(&self, payment: &pb::Payment) {
        if let Some(channel) = self.lock().get(&payment.payment_id) {
            // Every receiver may have gone between the lookup and now: nobody to tell.
            let _ = channel.send(payment.clone());
        }
    }
}

/// One watcher of one payment.
#[derive(Debug)]
pub(crate) struct Watch {
    receiver: broadcast::Receiver<pb::Payment>,
    payment_id: String,
    watchers: Arc<Watchers>,
}

impl Watch {
    /// The next change of the watched payment.
    pub(crate) async fn recv(&mut self) -> Result<pb::Payment, broadcast::error::RecvError> {
        self.receiver.recv().await
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut channels = self.watchers.lock();
        // This watch's receiver still counts: it is the last one when the count is 1.
        if channels
            .get(&self.payment_id)
            .is_some_and(|channel| channel.receiver_count() <= 1)
        {
            channels.remove(&self.payment_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(id: &str, status: pb::PaymentStatus) -> pb::Payment {
        pb::Payment {
            payment_id: id.into(),
            status: status as i32,
            ..pb::Payment::default()
        }
    }

    #[tokio::test]
    async fn a_change_reaches_only_the_watchers_of_its_payment() {
        let watchers = Arc::new(Watchers::default());
        let mut a1 = watchers.subscribe("pay_a");
        let mut a2 = watchers.subscribe("pay_a");
        let mut b = watchers.subscribe("pay_b");
        watchers.send(&payment("pay_a", pb::PaymentStatus::Settled));
        assert_eq!(a1.recv().await.unwrap().payment_id, "pay_a");
        assert_eq!(a2.recv().await.unwrap().payment_id, "pay_a");
        assert!(matches!(
            b.receiver.try_recv(),
            Err(broadcast::error::TryRecvError::Empty)
        ));
        // An unwatched payment's change goes nowhere.
        watchers.send(&payment("pay_c", pb::PaymentStatus::Settled));
        assert!(!watchers.watched("pay_c"));
    }

    #[test]
    fn the_last_watcher_to_go_removes_the_channel() {
        let watchers = Arc::new(Watchers::default());
        let first = watchers.subscribe("pay_a");
        let second = watchers.subscribe("pay_a");
        drop(first);
        assert!(watchers.watched("pay_a"));
        drop(second);
        assert!(!watchers.watched("pay_a"));
        // Watching again after all left starts afresh.
        let _again = watchers.subscribe("pay_a");
        assert!(watchers.watched("pay_a"));
    }

    #[tokio::test]
    async fn a_watcher_that_falls_behind_is_told() {
        let watchers = Arc::new(Watchers::default());
        let mut slow = watchers.subscribe("pay_a");
        for _ in 0..=BACKLOG {
            watchers.send(&payment("pay_a", pb::PaymentStatus::PendingCustomer));
        }
        assert!(matches!(
            slow.recv().await,
            Err(broadcast::error::RecvError::Lagged(_))
        ));
    }
}
