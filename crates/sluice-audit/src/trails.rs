//! A set of trails, one chain per gateway: checking them together ([`verify_trails`]) and
//! reading them as one stream in time order ([`MergedTrails`]).
//!
//! Gateways sharing a store each keep their own chain: one writer per chain is what lets a
//! chain be written without coordination and checked link by link. An operator who wants the
//! whole picture collects every gateway's file and checks or reads them together.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::AuditError;
use crate::lines::Lines;
use crate::record::AuditRecord;
use crate::verify::{verify_with_keys, BrokenLink, Finding, FindingKind, VerifyReport};

/// One trail of a set, as [`verify_trails`] found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrailReport {
    /// The file, as given.
    pub path: PathBuf,
    /// The gateway its records name (the first, if they name several); `None` for a chain
    /// written by an unnamed gateway.
    pub gateway: Option<String>,
    /// The chain's own check, plus the set's findings about this trail
    /// ([`FindingKind::DuplicateGateway`]).
    pub report: VerifyReport,
}

impl TrailReport {
    pub fn is_intact(&self) -> bool {
        self.report.is_intact()
    }
}

/// Checks every trail's chain (as [`verify_with_keys`], trusting `public_keys`) and then the
/// set: two trails naming the same gateway is a [`FindingKind::DuplicateGateway`] problem on
/// both, since a gateway writes exactly one chain and two files claiming it means one is a
/// copy, a fork or a forgery. Trails come back in the order given. An I/O error on any trail
/// (a wrong path) is an error: a set missing a member cannot be vouched for.
pub fn verify_trails(
    paths: &[PathBuf],
    public_keys: &[[u8; 32]],
) -> Result<Vec<TrailReport>, AuditError> {
    let mut trails = Vec::with_capacity(paths.len());
    for path in paths {
        let report = verify_with_keys(path, public_keys).map_err(|e| with_path(e, path))?;
        trails.push(TrailReport {
            path: path.clone(),
            gateway: report.gateway().map(str::to_owned),
            report,
        });
    }
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, trail) in trails.iter().enumerate() {
        if let Some(name) = trail.gateway.as_deref() {
            by_name.entry(name).or_default().push(i);
        }
    }
    let mut duplicates: Vec<(usize, Finding)> = Vec::new();
    for (name, members) in &by_name {
        if members.len() < 2 {
            continue;
        }
        for &i in members {
            let others = members
                .iter()
                .filter(|&&j| j != i)
                .map(|&j| trails[j].path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            duplicates.push((
                i,
                Finding {
                    kind: FindingKind::DuplicateGateway,
                    seq: None,
                    line: None,
                    message: format!(
                        "{} and {others} both claim gateway {name}: a gateway writes one chain",
                        trails[i].path.display()
                    ),
                },
            ));
        }
    }
    for (i, finding) in duplicates {
        let report = &mut trails[i].report;
        if report.broken.is_none() {
            report.broken = Some(BrokenLink {
                seq: None,
                line: 0,
                reason: finding.message.clone(),
            });
        }
        report.findings.push(finding);
    }
    Ok(trails)
}

/// One record read by [`MergedTrails`]: its line's exact bytes and what the merge ordered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedRecord {
    /// Index of its trail in the paths given.
    pub trail: usize,
    pub time: OffsetDateTime,
    pub gateway: Option<String>,
    pub seq: u64,
    /// The line without its `\n`: what the chain hashed, so a reader can still check it.
    pub line: Vec<u8>,
}

impl MergedRecord {
    /// The whole record, parsed.
    pub fn record(&self) -> Result<AuditRecord, AuditError> {
        AuditRecord::from_line(&self.line)
    }

    /// Merge order: time, then gateway name, then seq; the trail index last so that even two
    /// copies of one trail order deterministically.
    fn key(&self) -> (OffsetDateTime, Option<&str>, u64, usize) {
        (self.time, self.gateway.as_deref(), self.seq, self.trail)
    }
}

/// The heap holds the smallest key on top.
struct Head(MergedRecord);

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.0.key() == other.0.key()
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.key().cmp(&self.0.key())
    }
}

/// What ordering needs from a line; deserializing into it still checks the line is JSON,
/// and it accepts event types newer than this binary.
#[derive(Deserialize)]
struct Fields {
    seq: u64,
    time: String,
    #[serde(default)]
    gateway: Option<String>,
}

struct Source {
    path: PathBuf,
    lines: Lines,
}

impl Source {
    /// The next record, or `None` at the end or at a torn last line (a write in progress, or
    /// a crash the gateway has not cut yet), as `search` does.
    fn next(&mut self, trail: usize) -> Result<Option<MergedRecord>, AuditError> {
        let Some(line) = self.lines.next_line()? else {
            return Ok(None);
        };
        if !line.complete {
            return Ok(None);
        }
        let corrupt = |reason: String| AuditError::Corrupt {
            line: line.number,
            reason: format!("{}: {reason}", self.path.display()),
        };
        let fields: Fields =
            serde_json::from_slice(line.bytes).map_err(|e| corrupt(e.to_string()))?;
        let time =
            OffsetDateTime::parse(&fields.time, &time::format_description::well_known::Rfc3339)
                .map_err(|e| corrupt(format!("bad time {:?}: {e}", fields.time)))?;
        Ok(Some(MergedRecord {
            trail,
            time,
            gateway: fields.gateway,
            seq: fields.seq,
            line: line.bytes.to_vec(),
        }))
    }
}

/// Several trails read as one stream in time order (ties: gateway name, then seq), by a k-way
/// merge: it holds one record per trail, so memory does not grow with the trails' size.
///
/// Each trail is read in file order; a trail whose clock stepped back comes out in its own
/// file order at that point, since only the heads of the trails are compared. A complete line
/// that is not a record is an [`AuditError::Corrupt`] naming the file; skipping it could hide a
/// record.
pub struct MergedTrails {
    sources: Vec<Source>,
    heap: BinaryHeap<Head>,
}

impl MergedTrails {
    /// Opens every trail and reads its first record. A missing file is an error: for a reader
    /// asked for a set, it is a wrong path.
    pub fn open(paths: &[PathBuf]) -> Result<MergedTrails, AuditError> {
        let mut merged = MergedTrails {
            sources: Vec::with_capacity(paths.len()),
            heap: BinaryHeap::with_capacity(paths.len()),
        };
        for (trail, path) in paths.iter().enumerate() {
            let mut source = Source {
                path: path.clone(),
                lines: Lines::open(path).map_err(|e| with_path(e, path))?,
            };
            if let Some(record) = source.next(trail)? {
                merged.heap.push(Head(record));
            }
            merged.sources.push(source);
        }
        Ok(merged)
    }

    /// The next record of the merged stream, `None` when every trail is exhausted.
    pub fn next_record(&mut self) -> Result<Option<MergedRecord>, AuditError> {
        let Some(Head(record)) = self.heap.pop() else {
            return Ok(None);
        };
        if let Some(source) = self.sources.get_mut(record.trail) {
            if let Some(next) = source.next(record.trail)? {
                self.heap.push(Head(next));
            }
        }
        Ok(Some(record))
    }
}

impl Iterator for MergedTrails {
    type Item = Result<MergedRecord, AuditError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record().transpose()
    }
}

/// An I/O error naming the file, since a set has many.
fn with_path(err: AuditError, path: &Path) -> AuditError {
    match err {
        AuditError::Io(e) => AuditError::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", path.display()),
        )),
        other => other,
    }
}
