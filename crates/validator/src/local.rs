//! [`LocalValidator`]: the in-process side of the validation seam — the validation library
//! on a blocking thread.

use crate::range_level;
use hypasis_primitives::{ChainSpec, Fault, VerificationLevel};
use hypasis_validation::{Anchors, BlockData, CheckpointAnchor, ValidationError, Validator};
use hypasis_validator_api::{RangeRequest, RangeValidator, ValidateError};
use std::sync::Arc;

/// Validates ranges in this process.
#[derive(Debug, Clone)]
pub struct LocalValidator {
    validator: Arc<Validator>,
}

impl LocalValidator {
    /// A validator for `spec`.
    pub fn new(spec: ChainSpec) -> Self {
        Self::from_validator(Validator::new(spec))
    }

    /// Over a configured validation library.
    pub fn from_validator(validator: Validator) -> Self {
        Self {
            validator: Arc::new(validator),
        }
    }
}

/// The seam's failure for a library error at `first` or later.
pub fn broken(e: &ValidationError, first: u64) -> ValidateError {
    ValidateError::Broken {
        number: e.block_number().unwrap_or(first),
        rule: e.rule_code(),
        message: e.to_string(),
        class: e.fault(),
    }
}

#[async_trait::async_trait]
impl RangeValidator for LocalValidator {
    async fn validate(
        &self,
        request: RangeRequest<'_>,
    ) -> Result<Option<VerificationLevel>, ValidateError> {
        let (first, last) = request.bounds()?;
        let mut anchors = Anchors {
            parent: request
                .parent
                .and_then(|p| p.header.clone())
                .map(|h| (h, None)),
            ..Anchors::default()
        };
        if let Some(h) = request.trusted_end {
            anchors.trusted.push((last, h));
        }
        anchors
            .checkpoints
            .extend(request.checkpoints.iter().map(|c| CheckpointAnchor {
                start: c.range.start,
                end: c.range.end,
                root: c.root,
            }));
        let data: Vec<BlockData> = request.blocks.iter().map(BlockData::from).collect();
        let validator = self.validator.clone();
        let report = tokio::task::spawn_blocking(move || validator.validate_range(&data, &anchors))
            .await
            .map_err(|e| ValidateError::Unavailable(format!("the validation task died: {e}")))?;
        match report {
            Ok(r) => Ok(range_level(&r)),
            Err(e) => Err(broken(&e, first)),
        }
    }
}
