//! `hypasis export`: writes stored blocks from the embedded store to block files.
//!
//! ```text
//! hypasis export --data-dir DIR --from N --to M --out chain.rlp [--receipts receipts.rlp]
//! ```
//!
//! The formats are those of `hypasis p2p fetch` and `hypasis verify --blocks/--receipts`
//! ([`hypasis_network::blockfile`]): `chain.rlp` is geth's export format, concatenated
//! `rlp([header, txs, ommers(, withdrawals)])`; `receipts.rlp` holds one eth/68 receipt list per
//! block (the store keeps receipts in exactly that form, so they are written as stored).
//!
//! The whole range must be stored: gaps are checked first and the export is refused, naming the
//! first missing range. Blocks are read in batches, written to temporary files next to the
//! outputs and renamed into place only when everything was written, so a failed export leaves no
//! partial file. The store must not be running on the same data directory (redb locks the file).

use std::{
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use clap::Args;
use hypasis_gaps::Range;
use hypasis_storage_api::blockfile;
use hypasis_storage_api::{BlockStorage, StorageError};
use hypasis_storage_redb::RedbStorage;

/// The database file inside a store data directory (as `hypasis-store --data-dir` uses it).
pub const DB_FILE: &str = "blocks.redb";

/// `hypasis export ...`
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Data directory of the embedded store (`hypasis-store --data-dir`; holds `blocks.redb`).
    /// The store service must be stopped.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// First block.
    #[arg(long)]
    from: u64,
    /// Last block (inclusive).
    #[arg(long)]
    to: u64,
    /// Output chain file (geth export format).
    #[arg(long, value_name = "chain.rlp")]
    out: PathBuf,
    /// Also write the receipts file (one eth/68 receipt list per block).
    #[arg(long, value_name = "receipts.rlp")]
    receipts: Option<PathBuf>,
    /// Blocks read from the store per batch (bounds memory: one batch is held at a time).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long)]
    quiet: bool,
}

/// Why an export failed (printed with its context chain by `main`; exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `--from` above `--to`.
    #[error("--from {from} is above --to {to}")]
    EmptyRange {
        /// `--from`.
        from: u64,
        /// `--to`.
        to: u64,
    },
    /// `--out` and `--receipts` name the same file.
    #[error("--out and --receipts are the same file {0}")]
    SameFile(PathBuf),
    /// No database in the data directory.
    #[error("no store database at {0} (is --data-dir the store's data directory?)")]
    NoDatabase(PathBuf),
    /// The database could not be opened (locked by a running store, damaged, ...).
    #[error(
        "cannot open the store database {path} (if a hypasis-store runs on this data directory, stop it first)"
    )]
    Open {
        /// Database file.
        path: PathBuf,
        /// The storage error.
        source: StorageError,
    },
    /// Blocks of the requested range are not stored.
    #[error(
        "blocks {first} are missing from the store ({missing} blocks in {gaps} gap(s) within {from}..={to}{more}); nothing was written"
    )]
    Missing {
        /// First missing range.
        first: Range,
        /// Number of gaps.
        gaps: usize,
        /// Missing blocks in total.
        missing: u64,
        /// `--from`.
        from: u64,
        /// `--to`.
        to: u64,
        /// The next gaps, when more than one.
        more: String,
    },
    /// Reading the store failed.
    #[error("reading blocks from the store: {0}")]
    Read(#[source] StorageError),
    /// The store answered a different block than the next expected one.
    #[error("the store returned {found} where block {expected} was expected (damaged database?)")]
    Unexpected {
        /// Expected block number.
        expected: u64,
        /// What came back.
        found: String,
    },
    /// A stored block could not be encoded (damaged body).
    #[error("block {number}: stored body is not valid RLP: {reason}")]
    Encode {
        /// Block number.
        number: u64,
        /// What is wrong.
        reason: String,
    },
    /// File I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One output: written to `tmp`, renamed to `dest` by [`Output::commit`]; the temporary file is
/// removed when dropped uncommitted.
struct Output {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<std::io::BufWriter<std::fs::File>>,
    bytes: u64,
}

impl Output {
    fn create(dest: &Path) -> Result<Self, ExportError> {
        let name = dest
            .file_name()
            .ok_or_else(|| ExportError::Io {
                path: dest.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
            })?
            .to_string_lossy()
            .into_owned();
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(ExportError::Io {
                path: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "output directory does not exist",
                ),
            });
        }
        let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
        let file = std::fs::File::create(&tmp).map_err(io(&tmp))?;
        Ok(Self {
            dest: dest.to_path_buf(),
            tmp,
            file: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            bytes: 0,
        })
    }

    fn write(&mut self, data: &[u8]) -> Result<(), ExportError> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        f.write_all(data).map_err(io(&self.tmp))?;
        self.bytes += data.len() as u64;
        Ok(())
    }

    /// Flushes and syncs the temporary file (the rename happens in [`Output::rename`]).
    fn finish(&mut self) -> Result<(), ExportError> {
        if let Some(f) = self.file.take() {
            let file = f.into_inner().map_err(|e| io(&self.tmp)(e.into_error()))?;
            file.sync_all().map_err(io(&self.tmp))?;
        }
        Ok(())
    }

    fn rename(&self) -> Result<(), ExportError> {
        std::fs::rename(&self.tmp, &self.dest).map_err(io(&self.dest))
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Committed outputs have no temporary file any more; this is a no-op for them.
        self.file.take();
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Runs `hypasis export`.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(export(args))
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let (from, to) = (args.from, args.to);
    let range = Range::new(from, to).map_err(|_| ExportError::EmptyRange { from, to })?;
    if args.receipts.as_deref() == Some(args.out.as_path()) {
        return Err(ExportError::SameFile(args.out.clone()).into());
    }
    let path = args.data_dir.join(DB_FILE);
    // `RedbStorage::open` creates a missing database; an export must not.
    if !path.is_file() {
        return Err(ExportError::NoDatabase(path).into());
    }
    let storage = tokio::task::spawn_blocking({
        let path = path.clone();
        move || RedbStorage::open(path)
    })
    .await
    .context("opening the store")?
    .map_err(|source| ExportError::Open {
        path: path.clone(),
        source,
    })?;

    let gaps = storage.gaps(range).await.map_err(ExportError::Read)?;
    if let Some(&first) = gaps.first() {
        let more: Vec<String> = gaps.iter().skip(1).take(5).map(|g| g.to_string()).collect();
        let more = if more.is_empty() {
            String::new()
        } else {
            let ellipsis = if gaps.len() > 6 { ", ..." } else { "" };
            format!("; also {}{ellipsis}", more.join(", "))
        };
        return Err(ExportError::Missing {
            first,
            gaps: gaps.len(),
            missing: gaps.iter().map(Range::len).sum(),
            from,
            to,
            more,
        }
        .into());
    }

    let started = Instant::now();
    let mut chain = Output::create(&args.out)?;
    let mut receipts = args.receipts.as_deref().map(Output::create).transpose()?;
    let total = range.len();
    let bar = crate::progress::blocks_bar(total, args.quiet);
    let batch = args.batch.clamp(1, 100_000);
    let mut next = from;
    let mut written = 0u64;
    let result: Result<(), ExportError> = async {
        loop {
            let blocks = storage
                .blocks(
                    Range {
                        start: next,
                        end: to,
                    },
                    batch,
                )
                .await
                .map_err(ExportError::Read)?;
            if blocks.is_empty() {
                return Err(ExportError::Unexpected {
                    expected: next,
                    found: "no block".into(),
                });
            }
            for b in &blocks {
                if b.number != next {
                    return Err(ExportError::Unexpected {
                        expected: next,
                        found: format!("block {}", b.number),
                    });
                }
                let rlp =
                    blockfile::block_rlp(&b.header, &b.body).map_err(|e| ExportError::Encode {
                        number: b.number,
                        reason: e.to_string(),
                    })?;
                chain.write(&rlp)?;
                if let Some(r) = receipts.as_mut() {
                    // Stored receipts are already one receipts-file item (see
                    // `blockfile::receipts_file_item`, which the fetcher stores).
                    r.write(&b.receipts)?;
                }
                written += 1;
                if next == to {
                    return Ok(());
                }
                next += 1;
            }
            bar.inc(blocks.len() as u64);
        }
    }
    .await;
    bar.finish_and_clear();
    result?;
    chain.finish()?;
    if let Some(r) = receipts.as_mut() {
        r.finish()?;
        r.rename()?;
    }
    if let Err(e) = chain.rename() {
        if let Some(r) = &receipts {
            let _ = std::fs::remove_file(&r.dest);
        }
        return Err(e.into());
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "exported {written} blocks ({from}..={to}) in {secs:.2} s: {} ({} bytes)",
        args.out.display(),
        chain.bytes
    );
    if let Some(r) = &receipts {
        println!("receipts: {} ({} bytes)", r.dest.display(), r.bytes);
    }
    Ok(())
}
