//! Static checkpoints from configuration: trusted `(number, hash)` block anchors, trusted Polygon
//! checkpoints, or a checkpoint file (JSON), for air-gapped or test use.
//!
//! File format: a JSON array (or `{"checkpoints": [...]}`) of entries, each either a Polygon
//! checkpoint `{"id": 9693, "start": 9825948, "end": 9827227, "root": "0x…", "proposer": "0x…"}`
//! or a block anchor `{"number": 24784163, "hash": "0x…"}`.

use crate::error::{SourceError, SourceResult};
use crate::http::{ParseError, ParseResult, address_hex, b256_hex, str_field, u64_field};
use crate::source::CheckpointSource;
use alloy_primitives::B256;
use hypasis_gaps::Range;
use hypasis_primitives::{Checkpoint, CheckpointSource as SourceKind};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A fixed set of trusted checkpoints.
#[derive(Clone, Debug, Default)]
pub struct StaticSource {
    checkpoints: BTreeMap<u64, Checkpoint>,
    origin: String,
}

/// A block anchor: block `number` has hash `hash`.
pub fn block_anchor(source: SourceKind, number: u64, hash: B256) -> Checkpoint {
    Checkpoint {
        source,
        id: number,
        range: Range {
            start: number,
            end: number,
        },
        root: B256::ZERO,
        end_block_hash: Some(hash),
        l1_tx_hash: None,
        l1_block: None,
        proposer: None,
        created_at: None,
        verified_by: vec![source],
    }
}

fn inverted(start: u64, end: u64) -> ParseError {
    ParseError::InvertedRange {
        start_name: "start",
        start,
        end_name: "end",
        end,
    }
}

fn entry(v: &Value) -> ParseResult<Checkpoint> {
    if v.get("number").is_some() {
        let number = u64_field(v, "number")?;
        let hash = b256_hex(str_field(v, "hash")?, "hash")?;
        return Ok(block_anchor(SourceKind::Static, number, hash));
    }
    let id = u64_field(v, "id")?;
    let start = u64_field(v, "start")?;
    let end = u64_field(v, "end")?;
    let range = Range::new(start, end).map_err(|_| inverted(start, end))?;
    let root = b256_hex(str_field(v, "root")?, "root")?;
    let proposer = match v.get("proposer") {
        None | Some(Value::Null) => None,
        Some(_) => Some(address_hex(str_field(v, "proposer")?, "proposer")?),
    };
    let end_block_hash = match v.get("end_block_hash") {
        None | Some(Value::Null) => None,
        Some(_) => Some(b256_hex(str_field(v, "end_block_hash")?, "end_block_hash")?),
    };
    Ok(Checkpoint {
        source: SourceKind::Static,
        id,
        range,
        root,
        end_block_hash,
        l1_tx_hash: None,
        l1_block: None,
        proposer,
        created_at: None,
        verified_by: vec![SourceKind::Static],
    })
}

impl StaticSource {
    /// A source serving exactly `checkpoints` (ids must be unique).
    pub fn new(checkpoints: Vec<Checkpoint>, origin: impl Into<String>) -> SourceResult<Self> {
        let origin = origin.into();
        let mut map = BTreeMap::new();
        for mut cp in checkpoints {
            cp.source = SourceKind::Static;
            cp.verified_by = vec![SourceKind::Static];
            if map.insert(cp.id, cp.clone()).is_some() {
                return Err(SourceError::config(
                    &origin,
                    format!("checkpoint {} is given twice", cp.id),
                ));
            }
        }
        if map.is_empty() {
            return Err(SourceError::config(&origin, "no static checkpoints given"));
        }
        Ok(Self {
            checkpoints: map,
            origin,
        })
    }

    /// Parses a checkpoint file's JSON text.
    pub fn from_json(text: &str, origin: impl Into<String>) -> SourceResult<Self> {
        let origin = origin.into();
        let value: Value = serde_json::from_str(text)
            .map_err(|e| SourceError::config(&origin, format!("malformed JSON: {e}")))?;
        let list = match &value {
            Value::Array(a) => a,
            Value::Object(o) => match o.get("checkpoints") {
                Some(Value::Array(a)) => a,
                _ => {
                    return Err(SourceError::config(
                        &origin,
                        "expected an array or {\"checkpoints\": [...]}",
                    ));
                }
            },
            _ => {
                return Err(SourceError::config(
                    &origin,
                    "expected an array or {\"checkpoints\": [...]}",
                ));
            }
        };
        let mut cps = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            cps.push(entry(v).map_err(|m| {
                SourceError::config(&origin, m.at(format!("entry {i}")).to_string())
            })?);
        }
        Self::new(cps, origin)
    }

    /// Every configured checkpoint, ascending.
    pub fn all(&self) -> impl Iterator<Item = &Checkpoint> {
        self.checkpoints.values()
    }

    /// Reads a checkpoint file.
    pub fn from_file(path: &Path) -> SourceResult<Self> {
        let origin = format!("static {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| SourceError::config(&origin, format!("cannot read: {e}")))?;
        Self::from_json(&text, origin)
    }

    /// Parses `NUMBER:0xHASH` (a trusted block) or `ID:START:END:0xROOT` (a trusted Polygon
    /// checkpoint).
    pub fn parse_flag(s: &str) -> ParseResult<Checkpoint> {
        let parts: Vec<&str> = s.split(':').collect();
        let num = |p: &str, what: &'static str| {
            p.parse::<u64>().map_err(|source| ParseError::FlagNumber {
                given: s.to_string(),
                what,
                value: p.to_string(),
                source,
            })
        };
        let at = |e: ParseError| e.at(format!("`{s}`"));
        match parts.as_slice() {
            [n, h] => Ok(block_anchor(
                SourceKind::Static,
                num(n, "number")?,
                b256_hex(h, "hash").map_err(at)?,
            )),
            [id, start, end, root] => {
                let start = num(start, "start")?;
                let end = num(end, "end")?;
                Ok(Checkpoint {
                    source: SourceKind::Static,
                    id: num(id, "id")?,
                    range: Range::new(start, end).map_err(|_| at(inverted(start, end)))?,
                    root: b256_hex(root, "root").map_err(at)?,
                    end_block_hash: None,
                    l1_tx_hash: None,
                    l1_block: None,
                    proposer: None,
                    created_at: None,
                    verified_by: vec![SourceKind::Static],
                })
            }
            _ => Err(ParseError::FlagForm {
                given: s.to_string(),
            }),
        }
    }
}

#[async_trait::async_trait]
impl CheckpointSource for StaticSource {
    fn kind(&self) -> SourceKind {
        SourceKind::Static
    }

    fn name(&self) -> String {
        self.origin.clone()
    }

    async fn latest(&self) -> SourceResult<Checkpoint> {
        self.checkpoints
            .values()
            .next_back()
            .cloned()
            .ok_or_else(|| SourceError::not_found(&self.origin, "no static checkpoints"))
    }

    async fn by_id(&self, id: u64) -> SourceResult<Checkpoint> {
        self.checkpoints.get(&id).cloned().ok_or_else(|| {
            SourceError::not_found(&self.origin, format!("checkpoint {id} is not configured"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn file_and_flags() {
        let s = StaticSource::from_json(
            r#"[{"id": 9693, "start": 9825948, "end": 9827227,
                 "root": "0xe459e9f7439f54989ee693ba93802793c02880a824979d476544378d3f66d174",
                 "proposer": "0x7fCD58C2D53D980b247F1612FdbA93E9a76193E6"}]"#,
            "static test",
        )
        .unwrap();
        let cp = s.latest().await.unwrap();
        assert_eq!(
            (cp.id, cp.range.start, cp.range.end),
            (9693, 9825948, 9827227)
        );
        assert_eq!(s.by_id(9693).await.unwrap(), cp);
        assert_eq!(
            s.by_id(1).await.unwrap_err().kind,
            crate::ErrorKind::NotFound
        );
        let a = StaticSource::parse_flag(
            "24784163:0xb5d55a8a5dcb2261af14ae514e21d67573a57b11ead11b8e77c6be92933c98d0",
        )
        .unwrap();
        assert_eq!(a.range.start, 24784163);
        assert!(a.root.is_zero());
        assert!(StaticSource::parse_flag("1:2").is_err());
        assert!(StaticSource::from_json("{\"x\":1}", "t").is_err());
        assert!(StaticSource::from_json("[{\"id\": 1}]", "t").is_err());
    }
}
