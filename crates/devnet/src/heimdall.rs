//! A Heimdall-v2-format REST endpoint over the devnet's checkpoints: `/checkpoints/latest`,
//! `/checkpoints/{n}`, `/checkpoints/count`, `/milestone/latest` and `/milestones/latest`
//! (numbers as strings, roots and hashes in base64), as `hypasis_checkpoint`'s
//! Heimdall source reads them.

use std::sync::{Arc, RwLock};

use alloy_primitives::{Address, B256};
use axum::{
    Router,
    extract::{Path, State},
    http::{StatusCode, header::CONTENT_TYPE},
    response::{IntoResponse, Response},
    routing::get,
};
use base64::Engine;
use hypasis_primitives::Checkpoint;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The checkpoints served, shared with whoever publishes new ones (a growing devnet).
#[derive(Clone, Debug)]
pub struct CheckpointFeed {
    inner: Arc<RwLock<FeedState>>,
    bor_chain_id: String,
    /// Spans of `span_len` blocks from block 0, every one produced by all of these validators
    /// (the devnet seals in turn with each of them).
    spans: Option<(u64, Arc<Vec<Address>>)>,
}

#[derive(Debug, Default)]
struct FeedState {
    checkpoints: Vec<Checkpoint>,
    /// Latest milestone: (end block, hash, timestamp).
    milestone: Option<(u64, B256, u64)>,
}

impl CheckpointFeed {
    /// A feed for chain `bor_chain_id` with these checkpoints (ids `1..`, in order).
    pub fn new(bor_chain_id: u64, checkpoints: Vec<Checkpoint>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(FeedState {
                checkpoints,
                milestone: None,
            })),
            bor_chain_id: bor_chain_id.to_string(),
            spans: None,
        }
    }

    /// Also serves Bor spans (`/bor/spans/latest`, `/bor/spans/{id}`): span `k` covers blocks
    /// `k·span_len ..= (k+1)·span_len − 1`, with `validators` as its set and its producers; the
    /// latest span is the one holding the milestone.
    pub fn with_spans(mut self, span_len: u64, validators: Vec<Address>) -> Self {
        self.spans = Some((span_len.max(1), Arc::new(validators)));
        self
    }

    fn span_json(&self, id: u64) -> Option<Value> {
        let (len, validators) = self.spans.as_ref()?;
        let start = id.checked_mul(*len)?;
        let end = start.checked_add(len - 1)?;
        let set: Vec<Value> = validators
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"val_id": (i + 1).to_string(), "signer": format!("{a:#x}"), "voting_power": "1"}))
            .collect();
        Some(json!({"span": {
            "id": id.to_string(),
            "start_block": start.to_string(),
            "end_block": end.to_string(),
            "validator_set": {"validators": set.clone(), "total_voting_power": set.len().to_string()},
            "selected_producers": set,
            "bor_chain_id": self.bor_chain_id,
        }}))
    }

    /// Appends checkpoints (ids must continue the sequence).
    pub fn publish(&self, checkpoints: impl IntoIterator<Item = Checkpoint>) {
        let mut state = self.inner.write().expect("feed lock");
        state.checkpoints.extend(checkpoints);
    }

    /// Sets the latest milestone (the chain's tip: `number`, `hash`, `timestamp`).
    pub fn set_milestone(&self, number: u64, hash: B256, timestamp: u64) {
        self.inner.write().expect("feed lock").milestone = Some((number, hash, timestamp));
    }

    /// Number of checkpoints.
    pub fn count(&self) -> usize {
        self.inner.read().expect("feed lock").checkpoints.len()
    }

    fn checkpoint_json(&self, cp: &Checkpoint) -> Value {
        let b64 = base64::engine::general_purpose::STANDARD;
        json!({"checkpoint": {
            "id": cp.id.to_string(),
            "proposer": cp.proposer.map(|p| format!("{p:#x}")),
            "start_block": cp.range.start.to_string(),
            "end_block": cp.range.end.to_string(),
            "root_hash": b64.encode(cp.root),
            "bor_chain_id": self.bor_chain_id,
            "timestamp": cp.created_at.unwrap_or(0).to_string(),
        }})
    }
}

/// A JSON response.
fn json_response(value: Value) -> Response {
    ([(CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

fn not_found(what: String) -> Response {
    (
        StatusCode::NOT_FOUND,
        json_response(json!({"code": 5, "message": what, "details": []})),
    )
        .into_response()
}

async fn latest(State(feed): State<CheckpointFeed>) -> Response {
    let state = feed.inner.read().expect("feed lock");
    match state.checkpoints.last() {
        Some(cp) => json_response(feed.checkpoint_json(cp)).into_response(),
        None => not_found("no checkpoint yet".into()),
    }
}

async fn count(State(feed): State<CheckpointFeed>) -> Response {
    json_response(json!({"ack_count": feed.count().to_string()})).into_response()
}

async fn by_id(State(feed): State<CheckpointFeed>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return (
            StatusCode::BAD_REQUEST,
            json_response(json!({"code": 3, "message": format!("invalid checkpoint id `{id}`")})),
        )
            .into_response();
    };
    let state = feed.inner.read().expect("feed lock");
    match id
        .checked_sub(1)
        .and_then(|i| state.checkpoints.get(i as usize))
    {
        Some(cp) => json_response(feed.checkpoint_json(cp)).into_response(),
        None => not_found(format!("checkpoint {id} not found")),
    }
}

async fn latest_span(State(feed): State<CheckpointFeed>) -> Response {
    let at = feed
        .inner
        .read()
        .expect("feed lock")
        .milestone
        .map_or(0, |(n, _, _)| n);
    let id = feed.spans.as_ref().map_or(0, |(len, _)| at / len);
    match feed.span_json(id) {
        Some(body) => json_response(body).into_response(),
        None => not_found("this devnet serves no spans".into()),
    }
}

async fn span_by_id(State(feed): State<CheckpointFeed>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return (
            StatusCode::BAD_REQUEST,
            json_response(json!({"code": 3, "message": format!("invalid span id `{id}`")})),
        )
            .into_response();
    };
    match feed.span_json(id) {
        Some(body) => json_response(body).into_response(),
        None => not_found(format!("span {id} not found")),
    }
}

async fn milestone(State(feed): State<CheckpointFeed>) -> Response {
    let state = feed.inner.read().expect("feed lock");
    let Some((number, hash, timestamp)) = state.milestone else {
        return not_found("no milestone yet".into());
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    json_response(json!({"milestone": {
        "proposer": Value::Null,
        "start_block": number.to_string(),
        "end_block": number.to_string(),
        "hash": b64.encode(hash),
        "bor_chain_id": feed.bor_chain_id,
        "milestone_id": format!("devnet-{number}"),
        "timestamp": timestamp.to_string(),
    }}))
    .into_response()
}

/// The endpoint's routes.
pub fn router(feed: CheckpointFeed) -> Router {
    Router::new()
        .route("/checkpoints/latest", get(latest))
        .route("/checkpoints/count", get(count))
        .route("/checkpoints/{id}", get(by_id))
        .route("/milestone/latest", get(milestone))
        .route("/milestones/latest", get(milestone))
        .route("/bor/spans/latest", get(latest_span))
        .route("/bor/spans/{id}", get(span_by_id))
        .with_state(feed)
}

/// Serves `feed` on `listener` until the task is dropped or aborted.
pub fn serve_heimdall(listener: TcpListener, feed: CheckpointFeed) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router(feed)).await {
            eprintln!("heimdall endpoint stopped: {e}");
        }
    })
}
