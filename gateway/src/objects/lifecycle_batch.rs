//! Acting on one round's due objects several at a time.
//!
//! Each action ends in its own metadata commit; taken one after another, every expiration
//! waits for a whole `fsync` of its own (~600 objects/s here). Started side by side they
//! share the committer's group commits. Actions on different objects are independent (the
//! schedule holds one entry per object) and each is idempotent and re-checked when it runs,
//! so their order within a round does not matter. Transitions among them are tier moves,
//! which already pace themselves while clients are served; the bound keeps their copy
//! buffers few.

use std::future::Future;

use futures::StreamExt;

use super::ObjectService;
use super::error::{ObjectError, ObjectResult};

/// Actions in flight at once: enough for group commits to carry the deletes (a commit
/// takes what is queued), few enough that concurrent moves stay cheap.
const IN_FLIGHT: usize = 16;
/// While clients are served: fewer side by side, so the worker's commits and CPU come in
/// small steps between the requests.
const IN_FLIGHT_BUSY: usize = 4;

/// Runs the actions (one per due object, with its bucket id), at most [`IN_FLIGHT`] at
/// once, counting each object and each failure in the lifecycle figures. Returns the first
/// error after the others have finished.
pub(super) async fn act_all<Fut>(
    service: &ObjectService,
    actions: Vec<(u64, Fut)>,
) -> ObjectResult<()>
where
    Fut: Future<Output = ObjectResult<()>>,
{
    let stats = &service.lifecycle_stats;
    let results: Vec<(u64, ObjectResult<()>)> = futures::stream::iter(actions)
        .map(|(bucket_id, action)| {
            stats.examined(bucket_id, 1);
            async move { (bucket_id, action.await) }
        })
        .buffer_unordered(if service.activity.busy() {
            IN_FLIGHT_BUSY
        } else {
            IN_FLIGHT
        })
        .collect()
        .await;
    let mut first: Option<ObjectError> = None;
    for (bucket_id, result) in results {
        if let Err(e) = result {
            stats.failed(bucket_id, &e);
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}
