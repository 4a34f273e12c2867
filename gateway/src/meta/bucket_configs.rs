//! Applying changes to per-bucket configuration documents.

use super::ConfigKind;
use super::WriteOutcome;
use super::apply::{ApplyError, Tables};

impl Tables<'_> {
    pub(super) fn set_bucket_config(
        &mut self,
        bucket_id: u64,
        kind: ConfigKind,
        value: Option<&[u8]>,
    ) -> Result<WriteOutcome, ApplyError> {
        match value {
            Some(value) => {
                self.bucket_configs
                    .insert((bucket_id, kind.name()), value)?;
            }
            None => {
                self.bucket_configs.remove((bucket_id, kind.name()))?;
            }
        }
        // Lifecycle and tiering configurations decide when objects fall due.
        match kind {
            ConfigKind::Lifecycle | ConfigKind::IntelligentTiering => {
                self.queue_backfill(bucket_id)?;
            }
            ConfigKind::Policy | ConfigKind::Quota => {}
        }
        Ok(WriteOutcome::Done)
    }

    /// Removes every configuration of a bucket being deleted: a bucket created again under
    /// the same name gets a new id and starts without any.
    pub(super) fn drop_bucket_configs(&mut self, bucket_id: u64) -> Result<(), ApplyError> {
        self.bucket_configs
            .retain_in((bucket_id, "")..(bucket_id + 1, ""), |_, _| false)?;
        // Its objects are all gone, so nothing of it is scheduled; a backfill may be pending.
        self.lc_backfill.remove(bucket_id)?;
        Ok(())
    }
}
