//! Lifecycle configurations between the S3 wire shapes (s3s DTOs) and the rule model: the
//! structural checks S3 reports as MalformedXML happen here, the semantic ones in
//! `vmgw_lifecycle::validate`.

use s3s::dto::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter,
    NoncurrentVersionExpiration, NoncurrentVersionTransition, Tag, Timestamp,
    Transition as DtoTransition, TransitionStorageClass,
};
use vmgw_lifecycle::{
    Filter, FilterForm, LifecycleError, NoncurrentExpiration, NoncurrentTransition, Rule,
    Transition, When,
};

fn malformed(id: &str, what: &str) -> LifecycleError {
    LifecycleError::Malformed(id.to_owned(), what.to_owned())
}

fn days(id: &str, days: i32) -> Result<u32, LifecycleError> {
    u32::try_from(days).map_err(|_| LifecycleError::ZeroDays(id.to_owned()))
}

fn date_ms(date: &Timestamp) -> i64 {
    let at: time::OffsetDateTime = date.clone().into();
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn timestamp(ms: i64) -> Timestamp {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(at)
}

fn when(id: &str, d: Option<i32>, date: Option<&Timestamp>) -> Result<When, LifecycleError> {
    match (d, date) {
        (Some(d), None) => Ok(When::Days(days(id, d)?)),
        (None, Some(date)) => Ok(When::Date(date_ms(date))),
        (Some(_), Some(_)) => Err(malformed(id, "an action may not have both Days and Date")),
        (None, None) => Err(malformed(id, "an action needs Days or Date")),
    }
}

fn tag(id: &str, tag: &Tag) -> Result<(String, String), LifecycleError> {
    super::convert::tag_pair(tag).ok_or_else(|| malformed(id, "a Tag needs a Key"))
}

fn size(id: &str, bytes: i64) -> Result<u64, LifecycleError> {
    u64::try_from(bytes).map_err(|_| malformed(id, "object sizes must not be negative"))
}

fn filter(id: &str, rule: &LifecycleRule) -> Result<Filter, LifecycleError> {
    let Some(f) = &rule.filter else {
        return Ok(Filter {
            prefix: rule.prefix.clone().unwrap_or_default(),
            form: if rule.prefix.is_some() {
                FilterForm::RulePrefix
            } else {
                FilterForm::Empty
            },
            ..Filter::default()
        });
    };
    if rule.prefix.is_some() {
        return Err(malformed(id, "a rule may not have both Prefix and Filter"));
    }
    let given = [
        f.and.is_some(),
        f.prefix.is_some(),
        f.tag.is_some(),
        f.object_size_greater_than.is_some(),
        f.object_size_less_than.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given > 1 {
        return Err(malformed(
            id,
            "a Filter holds one of Prefix, Tag, ObjectSizeGreaterThan, ObjectSizeLessThan or And",
        ));
    }
    let mut out = Filter::default();
    if let Some(and) = &f.and {
        out.form = FilterForm::And;
        out.prefix = and.prefix.clone().unwrap_or_default();
        out.tags = and
            .tags
            .iter()
            .flatten()
            .map(|t| tag(id, t))
            .collect::<Result<_, _>>()?;
        out.size_greater_than = and
            .object_size_greater_than
            .map(|s| size(id, s))
            .transpose()?;
        out.size_less_than = and.object_size_less_than.map(|s| size(id, s)).transpose()?;
    } else if let Some(prefix) = &f.prefix {
        out.form = FilterForm::Prefix;
        out.prefix = prefix.clone();
    } else if let Some(t) = &f.tag {
        out.form = FilterForm::Tag;
        out.tags = vec![tag(id, t)?];
    } else if let Some(gt) = f.object_size_greater_than {
        out.form = FilterForm::SizeGreaterThan;
        out.size_greater_than = Some(size(id, gt)?);
    } else if let Some(lt) = f.object_size_less_than {
        out.form = FilterForm::SizeLessThan;
        out.size_less_than = Some(size(id, lt)?);
    }
    Ok(out)
}

fn rule(dto: &LifecycleRule) -> Result<Rule, LifecycleError> {
    let id = dto.id.clone().unwrap_or_default();
    let enabled = match dto.status.as_str() {
        ExpirationStatus::ENABLED => true,
        ExpirationStatus::DISABLED => false,
        other => {
            return Err(malformed(
                &id,
                &format!("Status must be Enabled or Disabled, not {other:?}"),
            ));
        }
    };
    let mut expiration = None;
    let mut expired_object_delete_marker = false;
    if let Some(e) = &dto.expiration {
        match (e.days, &e.date, e.expired_object_delete_marker) {
            (None, None, Some(marker)) => expired_object_delete_marker = marker,
            (_, _, Some(_)) => {
                return Err(LifecycleError::Malformed(
                    id,
                    "ExpiredObjectDeleteMarker cannot be specified with Days or Date".into(),
                ));
            }
            (d, date, None) => expiration = Some(when(&id, d, date.as_ref())?),
        }
    }
    let transitions = dto
        .transitions
        .iter()
        .flatten()
        .map(|t| {
            Ok(Transition {
                when: when(&id, t.days, t.date.as_ref())?,
                storage_class: t
                    .storage_class
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .ok_or_else(|| malformed(&id, "a Transition needs a StorageClass"))?,
            })
        })
        .collect::<Result<_, LifecycleError>>()?;
    let noncurrent_expiration = dto
        .noncurrent_version_expiration
        .as_ref()
        .map(|nc| {
            Ok(NoncurrentExpiration {
                days: days(
                    &id,
                    nc.noncurrent_days.ok_or_else(|| {
                        malformed(&id, "NoncurrentVersionExpiration needs NoncurrentDays")
                    })?,
                )?,
                newer_versions: nc
                    .newer_noncurrent_versions
                    .map(|n| u32::try_from(n).unwrap_or(0)),
            })
        })
        .transpose()?;
    let noncurrent_transitions = dto
        .noncurrent_version_transitions
        .iter()
        .flatten()
        .map(|nc| {
            Ok(NoncurrentTransition {
                days: days(
                    &id,
                    nc.noncurrent_days.ok_or_else(|| {
                        malformed(&id, "NoncurrentVersionTransition needs NoncurrentDays")
                    })?,
                )?,
                newer_versions: nc
                    .newer_noncurrent_versions
                    .map(|n| u32::try_from(n).unwrap_or(0)),
                storage_class: nc
                    .storage_class
                    .as_ref()
                    .map(|c| c.as_str().to_owned())
                    .ok_or_else(|| {
                        malformed(&id, "a NoncurrentVersionTransition needs a StorageClass")
                    })?,
            })
        })
        .collect::<Result<_, LifecycleError>>()?;
    let abort_incomplete_multipart_days = dto
        .abort_incomplete_multipart_upload
        .as_ref()
        .map(|a| {
            a.days_after_initiation
                .ok_or_else(|| {
                    malformed(
                        &id,
                        "AbortIncompleteMultipartUpload needs DaysAfterInitiation",
                    )
                })
                .and_then(|d| days(&id, d))
        })
        .transpose()?;
    Ok(Rule {
        filter: filter(&id, dto)?,
        id,
        enabled,
        expiration,
        expired_object_delete_marker,
        transitions,
        noncurrent_expiration,
        noncurrent_transitions,
        abort_incomplete_multipart_days,
    })
}

/// The rules of a configuration as sent, checked for shape (not yet for meaning).
pub fn rules_from_dto(config: &BucketLifecycleConfiguration) -> Result<Vec<Rule>, LifecycleError> {
    config.rules.iter().map(rule).collect()
}

fn when_dto(when: When) -> (Option<i32>, Option<Timestamp>) {
    match when {
        When::Days(d) => (Some(i32::try_from(d).unwrap_or(i32::MAX)), None),
        When::Date(ms) => (None, Some(timestamp(ms))),
    }
}

fn tag_dto((key, value): &(String, String)) -> Tag {
    Tag {
        key: Some(key.clone()),
        value: Some(value.clone()),
    }
}

fn size_dto(size: Option<u64>) -> Option<i64> {
    size.map(|s| i64::try_from(s).unwrap_or(i64::MAX))
}

fn filter_dto(f: &Filter) -> (Option<LifecycleRuleFilter>, Option<String>) {
    let mut out = LifecycleRuleFilter::default();
    match f.form {
        FilterForm::RulePrefix => return (None, Some(f.prefix.clone())),
        FilterForm::Empty => {}
        FilterForm::Prefix => out.prefix = Some(f.prefix.clone()),
        FilterForm::Tag => out.tag = f.tags.first().map(tag_dto),
        FilterForm::SizeGreaterThan => out.object_size_greater_than = size_dto(f.size_greater_than),
        FilterForm::SizeLessThan => out.object_size_less_than = size_dto(f.size_less_than),
        FilterForm::And => {
            out.and = Some(LifecycleRuleAndOperator {
                prefix: Some(f.prefix.clone()).filter(|p| !p.is_empty()),
                tags: Some(f.tags.iter().map(tag_dto).collect())
                    .filter(|t: &Vec<Tag>| !t.is_empty()),
                object_size_greater_than: size_dto(f.size_greater_than),
                object_size_less_than: size_dto(f.size_less_than),
            });
        }
    }
    (Some(out), None)
}

/// The configuration as GetBucketLifecycleConfiguration answers it: as it was put.
pub fn rules_to_dto(rules: &[Rule]) -> Vec<LifecycleRule> {
    rules
        .iter()
        .map(|r| {
            let (filter, prefix) = filter_dto(&r.filter);
            let expiration = match (r.expiration, r.expired_object_delete_marker) {
                (Some(when), _) => {
                    let (days, date) = when_dto(when);
                    Some(LifecycleExpiration {
                        days,
                        date,
                        expired_object_delete_marker: None,
                    })
                }
                (None, true) => Some(LifecycleExpiration {
                    days: None,
                    date: None,
                    expired_object_delete_marker: Some(true),
                }),
                (None, false) => None,
            };
            LifecycleRule {
                id: Some(r.id.clone()).filter(|id| !id.is_empty()),
                status: ExpirationStatus::from_static(if r.enabled {
                    ExpirationStatus::ENABLED
                } else {
                    ExpirationStatus::DISABLED
                }),
                filter,
                prefix,
                expiration,
                transitions: Some(
                    r.transitions
                        .iter()
                        .map(|t| {
                            let (days, date) = when_dto(t.when);
                            DtoTransition {
                                days,
                                date,
                                storage_class: Some(TransitionStorageClass::from(
                                    t.storage_class.clone(),
                                )),
                            }
                        })
                        .collect(),
                )
                .filter(|t: &Vec<_>| !t.is_empty()),
                noncurrent_version_expiration: r.noncurrent_expiration.as_ref().map(|nc| {
                    NoncurrentVersionExpiration {
                        noncurrent_days: i32::try_from(nc.days).ok(),
                        newer_noncurrent_versions: nc
                            .newer_versions
                            .and_then(|n| i32::try_from(n).ok()),
                    }
                }),
                noncurrent_version_transitions: Some(
                    r.noncurrent_transitions
                        .iter()
                        .map(|nc| NoncurrentVersionTransition {
                            noncurrent_days: i32::try_from(nc.days).ok(),
                            newer_noncurrent_versions: nc
                                .newer_versions
                                .and_then(|n| i32::try_from(n).ok()),
                            storage_class: Some(TransitionStorageClass::from(
                                nc.storage_class.clone(),
                            )),
                        })
                        .collect(),
                )
                .filter(|t: &Vec<_>| !t.is_empty()),
                abort_incomplete_multipart_upload: r.abort_incomplete_multipart_days.map(|d| {
                    AbortIncompleteMultipartUpload {
                        days_after_initiation: i32::try_from(d).ok(),
                    }
                }),
            }
        })
        .collect()
}
