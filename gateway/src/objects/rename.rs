//! RenameObject: a new name for an object in one metadata commit, without copying a byte.
//! What makes `mv` on a mounted bucket atomic and instant, where copy + delete is neither.

use super::ObjectService;
use super::conditions::{Conditions, EtagMatch};
use super::error::{ObjectError, ObjectResult};
use crate::meta::{MetaError, Precondition, WriteOp};

/// A RenameObject request.
#[derive(Debug, Clone, Default)]
pub struct RenameObject {
    pub bucket: String,
    /// The new name.
    pub key: String,
    /// The current name.
    pub source_key: String,
    /// `x-amz-rename-source-if-*`: conditions on the object being renamed.
    pub source_conditions: Conditions,
    /// `If-*`: conditions on an object already at the new name.
    pub destination_conditions: Conditions,
}

fn has_any(c: &Conditions) -> bool {
    c.if_match.is_some()
        || c.if_none_match.is_some()
        || c.if_modified_since.is_some()
        || c.if_unmodified_since.is_some()
}

impl ObjectService {
    pub async fn rename_object(&self, rename: RenameObject) -> ObjectResult<()> {
        self.activity.touch();
        let bucket = self.bucket(&rename.bucket)?;
        if !bucket.versioning.is_unversioned() {
            // A rename moves a version's record to another key; with versioning, both keys'
            // histories would have to say so. S3 has RenameObject only where there is no
            // versioning (directory buckets), and so does vmgw.
            return Err(ObjectError::InvalidRequest(
                "RenameObject is not available on a bucket with versioning enabled or suspended"
                    .into(),
            ));
        }
        let source = self
            .meta
            .object(bucket.id, &rename.source_key)?
            .ok_or(ObjectError::NoSuchKey)?;
        // As for a copy source, "not modified" is a failed precondition, not a 304.
        rename.source_conditions.check(&source, true)?;
        let existing = self.meta.object(bucket.id, &rename.key)?;
        let conditions = &rename.destination_conditions;
        let destination = match &existing {
            _ if !has_any(conditions) => Precondition::None,
            Some(current) => {
                conditions.check(current, true)?;
                Precondition::IfVersion(current.version)
            }
            // Only `If-None-Match` can hold for a name nothing has yet.
            None if conditions.if_match.is_some() => return Err(ObjectError::PreconditionFailed),
            None => Precondition::IfAbsent,
        };
        if matches!(conditions.if_none_match, Some(EtagMatch::Any)) && existing.is_some() {
            return Err(ObjectError::PreconditionFailed);
        }
        match self
            .meta
            .apply(WriteOp::RenameObject {
                bucket: rename.bucket.clone(),
                bucket_id: bucket.id,
                from: rename.source_key,
                to: rename.key,
                source_version: source.version,
                destination,
            })
            .await
        {
            Ok(_) => Ok(()),
            // Either name changed between the look and the commit: S3 reports a conflict
            // of concurrent conditional writes as a failed precondition too.
            Err(MetaError::PreconditionFailed) => Err(ObjectError::PreconditionFailed),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::test_support::{get, put, service_with};

    #[tokio::test]
    async fn renames_without_copying_and_replaces_the_destination() {
        let t = service_with(None).await;
        let s = &t.service;
        put(s, "a", &vec![1u8; 300_000], None).await;
        put(s, "b", b"old", None).await;
        let before = s.meta.object(1, "a").unwrap().unwrap();
        s.rename_object(RenameObject {
            bucket: "b".into(),
            key: "b".into(),
            source_key: "a".into(),
            ..RenameObject::default()
        })
        .await
        .unwrap();
        assert!(s.meta.object(1, "a").unwrap().is_none());
        let after = s.meta.object(1, "b").unwrap().unwrap();
        assert_eq!(after.version, before.version, "the same object, not a copy");
        assert_eq!(get(s, "b").await, vec![1u8; 300_000]);
        let missing = s
            .rename_object(RenameObject {
                bucket: "b".into(),
                key: "c".into(),
                source_key: "a".into(),
                ..RenameObject::default()
            })
            .await;
        assert!(matches!(missing, Err(ObjectError::NoSuchKey)));
    }

    #[tokio::test]
    async fn if_none_match_keeps_an_existing_destination() {
        let t = service_with(None).await;
        let s = &t.service;
        put(s, "a", b"new", None).await;
        put(s, "b", b"old", None).await;
        let refused = s
            .rename_object(RenameObject {
                bucket: "b".into(),
                key: "b".into(),
                source_key: "a".into(),
                destination_conditions: Conditions {
                    if_none_match: Some(EtagMatch::Any),
                    ..Conditions::default()
                },
                ..RenameObject::default()
            })
            .await;
        assert!(matches!(refused, Err(ObjectError::PreconditionFailed)));
        assert_eq!(get(s, "a").await, b"new");
        assert_eq!(get(s, "b").await, b"old");
    }
}
