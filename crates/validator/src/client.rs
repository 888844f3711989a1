//! [`GrpcValidator`]: the validation seam over `hypasis.v1.Validator.ValidateRange`.

use hypasis_primitives::VerificationLevel;
use hypasis_proto::v1;
use hypasis_validator_api::{RangeRequest, RangeValidator, ValidateError};
use tonic::transport::Channel;

/// Validates ranges through the validator service at the other end of a channel.
#[derive(Debug, Clone)]
pub struct GrpcValidator {
    channel: Channel,
    chain: v1::ChainId,
    max_message_bytes: usize,
}

impl GrpcValidator {
    /// Over `channel`, for the chain `chain` names.
    pub fn new(channel: Channel, chain: v1::ChainId) -> Self {
        Self {
            channel,
            chain,
            max_message_bytes: 64 << 20,
        }
    }
}

fn unavailable(s: &tonic::Status) -> ValidateError {
    ValidateError::Unavailable(format!("{:?}: {}", s.code(), s.message()))
}

/// The seam's failure for a block verdict.
fn broken(f: v1::BlockVerdict) -> Result<ValidateError, ValidateError> {
    let rule = crate::rule_from_proto(f.rule_code)
        .ok_or(ValidateError::Protocol("a verdict without a known rule"))?;
    let class = hypasis_proto::convert::fault_class(f.fault_class)
        .ok_or(ValidateError::Protocol("a verdict without a fault class"))?;
    Ok(ValidateError::Broken {
        number: f.number,
        rule,
        message: format!(
            "{} ({}): expected {}, found {}",
            f.rule, f.field, f.expected, f.found
        ),
        class,
    })
}

#[async_trait::async_trait]
impl RangeValidator for GrpcValidator {
    async fn validate(
        &self,
        request: RangeRequest<'_>,
    ) -> Result<Option<VerificationLevel>, ValidateError> {
        let (first, last) = request.bounds()?;
        // One checkpoint travels with a range: the one covering it exactly.
        let checkpoint = request
            .checkpoints
            .iter()
            .find(|c| c.range.start == first && c.range.end == last);
        let start = v1::ValidateRangeStart {
            chain: Some(self.chain.clone()),
            range: Some(v1::BlockRange {
                start: first,
                end: last,
            }),
            parent: request.parent.map(|p| v1::BlockRef {
                number: first.saturating_sub(1),
                hash: p.hash.to_vec(),
            }),
            trusted_end: request.trusted_end.map(|h| v1::BlockRef {
                number: last,
                hash: h.to_vec(),
            }),
            checkpoint: checkpoint.map(v1::Checkpoint::from),
            signers: Vec::new(),
        };
        let mut items = Vec::with_capacity(request.blocks.len() + 1);
        items.push(v1::ValidateRangeRequest {
            item: Some(v1::validate_range_request::Item::Start(start)),
        });
        items.extend(request.blocks.iter().map(|b| v1::ValidateRangeRequest {
            item: Some(v1::validate_range_request::Item::Block(v1::Block::from(b))),
        }));
        let mut client = v1::validator_client::ValidatorClient::new(self.channel.clone())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes);
        let mut stream = client
            .validate_range(tokio_stream::iter(items))
            .await
            .map_err(|s| unavailable(&s))?
            .into_inner();
        loop {
            let msg = stream.message().await.map_err(|s| unavailable(&s))?;
            let Some(msg) = msg else {
                return Err(ValidateError::Protocol(
                    "the stream ended without a verdict",
                ));
            };
            match msg.item {
                Some(v1::validate_range_response::Item::Failure(f)) => return Err(broken(f)?),
                Some(v1::validate_range_response::Item::Done(d)) => {
                    if !d.valid {
                        return Err(ValidateError::Protocol(
                            "the range is invalid without a block verdict",
                        ));
                    }
                    // Unspecified: valid, but no anchor raised the whole range.
                    return Ok(hypasis_proto::convert::verification_level("level", d.level).ok());
                }
                None => {}
            }
        }
    }
}
