//! Intelligent-Tiering configurations between the S3 wire shapes (s3s DTOs) and the model.

use s3s::dto::{
    IntelligentTieringAccessTier, IntelligentTieringAndOperator, IntelligentTieringConfiguration,
    IntelligentTieringFilter, IntelligentTieringStatus, Tag, Tiering,
};
use vmgw_lifecycle::{Filter, FilterForm, TieringConfig, TieringError};

fn malformed(id: &str, what: &str) -> TieringError {
    TieringError::Malformed(id.to_owned(), what.to_owned())
}

fn tag(id: &str, tag: &Tag) -> Result<(String, String), TieringError> {
    super::convert::tag_pair(tag).ok_or_else(|| malformed(id, "a Tag needs a Key"))
}

fn filter(id: &str, f: Option<&IntelligentTieringFilter>) -> Result<Filter, TieringError> {
    let Some(f) = f else {
        return Ok(Filter::default());
    };
    let given = [f.and.is_some(), f.prefix.is_some(), f.tag.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(malformed(id, "a Filter holds one of Prefix, Tag or And"));
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
    } else if let Some(prefix) = &f.prefix {
        out.form = FilterForm::Prefix;
        out.prefix = prefix.clone();
    } else if let Some(t) = &f.tag {
        out.form = FilterForm::Tag;
        out.tags = vec![tag(id, t)?];
    }
    Ok(out)
}

/// A configuration as put; structural errors are MalformedXML, the rest is left to
/// `vmgw_lifecycle::validate_tiering`.
pub fn config_from_dto(
    dto: &IntelligentTieringConfiguration,
) -> Result<TieringConfig, TieringError> {
    let id = dto.id.clone();
    let enabled = match dto.status.as_str() {
        IntelligentTieringStatus::ENABLED => true,
        IntelligentTieringStatus::DISABLED => false,
        other => {
            return Err(malformed(
                &id,
                &format!("Status must be Enabled or Disabled, not {other:?}"),
            ));
        }
    };
    let mut config = TieringConfig {
        filter: filter(&id, dto.filter.as_ref())?,
        id,
        enabled,
        archive_days: None,
        deep_archive_days: None,
    };
    for tiering in &dto.tierings {
        let (slot, name) = match tiering.access_tier.as_str() {
            IntelligentTieringAccessTier::ARCHIVE_ACCESS => {
                (&mut config.archive_days, "ARCHIVE_ACCESS")
            }
            IntelligentTieringAccessTier::DEEP_ARCHIVE_ACCESS => {
                (&mut config.deep_archive_days, "DEEP_ARCHIVE_ACCESS")
            }
            other => {
                return Err(malformed(
                    &config.id,
                    &format!(
                        "AccessTier must be ARCHIVE_ACCESS or DEEP_ARCHIVE_ACCESS, not {other:?}"
                    ),
                ));
            }
        };
        if slot.is_some() {
            return Err(TieringError::DuplicateTier(config.id.clone(), name));
        }
        // Negative days are out of range like too few.
        *slot = Some(u32::try_from(tiering.days).unwrap_or(0));
    }
    Ok(config)
}

fn tag_dto((key, value): &(String, String)) -> Tag {
    Tag {
        key: Some(key.clone()),
        value: Some(value.clone()),
    }
}

fn filter_to_dto(filter: &Filter) -> Option<IntelligentTieringFilter> {
    match filter.form {
        FilterForm::And => Some(IntelligentTieringFilter {
            and: Some(IntelligentTieringAndOperator {
                prefix: (!filter.prefix.is_empty()).then(|| filter.prefix.clone()),
                tags: Some(filter.tags.iter().map(tag_dto).collect()),
            }),
            ..IntelligentTieringFilter::default()
        }),
        FilterForm::Prefix => Some(IntelligentTieringFilter {
            prefix: Some(filter.prefix.clone()),
            ..IntelligentTieringFilter::default()
        }),
        FilterForm::Tag => Some(IntelligentTieringFilter {
            tag: filter.tags.first().map(tag_dto),
            ..IntelligentTieringFilter::default()
        }),
        _ => None,
    }
}

pub fn config_to_dto(config: &TieringConfig) -> IntelligentTieringConfiguration {
    let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
    let mut tierings = Vec::new();
    if let Some(d) = config.archive_days {
        tierings.push(Tiering {
            access_tier: IntelligentTieringAccessTier::from_static(
                IntelligentTieringAccessTier::ARCHIVE_ACCESS,
            ),
            days: days(d),
        });
    }
    if let Some(d) = config.deep_archive_days {
        tierings.push(Tiering {
            access_tier: IntelligentTieringAccessTier::from_static(
                IntelligentTieringAccessTier::DEEP_ARCHIVE_ACCESS,
            ),
            days: days(d),
        });
    }
    IntelligentTieringConfiguration {
        filter: filter_to_dto(&config.filter),
        id: config.id.clone(),
        status: IntelligentTieringStatus::from_static(if config.enabled {
            IntelligentTieringStatus::ENABLED
        } else {
            IntelligentTieringStatus::DISABLED
        }),
        tierings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dto(tierings: &[(&'static str, i32)]) -> IntelligentTieringConfiguration {
        IntelligentTieringConfiguration {
            filter: Some(IntelligentTieringFilter {
                prefix: Some("logs/".into()),
                ..IntelligentTieringFilter::default()
            }),
            id: "arch".into(),
            status: IntelligentTieringStatus::from_static(IntelligentTieringStatus::ENABLED),
            tierings: tierings
                .iter()
                .map(|(tier, days)| Tiering {
                    access_tier: IntelligentTieringAccessTier::from_static(tier),
                    days: *days,
                })
                .collect(),
        }
    }

    #[test]
    fn round_trips() {
        let original = dto(&[("ARCHIVE_ACCESS", 90), ("DEEP_ARCHIVE_ACCESS", 180)]);
        let model = config_from_dto(&original).unwrap();
        assert_eq!(model.archive_days, Some(90));
        assert_eq!(model.deep_archive_days, Some(180));
        assert_eq!(model.filter.prefix, "logs/");
        let back = config_to_dto(&model);
        assert_eq!(back.id, original.id);
        assert_eq!(back.filter.unwrap().prefix.as_deref(), Some("logs/"));
        assert_eq!(back.tierings.len(), 2);
    }

    #[test]
    fn rejects_duplicates_and_unknown_tiers() {
        assert!(matches!(
            config_from_dto(&dto(&[("ARCHIVE_ACCESS", 90), ("ARCHIVE_ACCESS", 100)])),
            Err(TieringError::DuplicateTier(..))
        ));
        assert!(matches!(
            config_from_dto(&dto(&[("FREQUENT_ACCESS", 90)])),
            Err(TieringError::Malformed(..))
        ));
    }
}
