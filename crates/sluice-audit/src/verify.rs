//! Offline check of the hash chain and its signed checkpoints: the tamper-evidence half of
//! the design.
//!
//! The walk reports every finding, not only the first, and names what was altered or
//! removed where the evidence allows it:
//!
//! - A record whose `seq` follows the one before but whose `prev` does not match that line's
//!   hash: the line before was altered (its bytes are no longer those its successor chained).
//!   The exception is a checkpoint whose signed `head` still matches the line before: then the
//!   checkpoint's own `prev` was edited.
//! - A `seq` that jumps: the records in between were removed.
//! - A `seq` that goes back: a record out of order (moved or duplicated).
//! - A checkpoint whose signed `head` is not the hash of the record at its `count`: the chain
//!   below it was rewritten (every `prev` recomputed, which the chain alone cannot show) after
//!   it was sealed.
//! - A checkpoint whose signature does not verify with the given public key: forged or edited;
//!   one naming another key id: signed by a key the verifier does not trust.
//! - A checkpoint whose `count` is beyond every record before it: the records it sealed were
//!   cut and the checkpoint spliced on.
//!
//! - A record naming a `gateway` other than the one the chain's earlier records name: two
//!   gateways wrote one chain (records naming no gateway, from before names existed, are not
//!   counted).
//!
//! What a file alone cannot show: its tail cut at a line boundary after the last checkpoint
//! (the records after a checkpoint are unsealed by definition; they are reported as such), and
//! a file that starts after seq 1 (an excerpt, or its head removed: reported, not failed).
//! Against those, compare with an external copy of a later checkpoint (the gateway logs each
//! one's seq and head).

use std::path::Path;

use serde::Serialize;

use crate::checkpoint::{CheckpointInvalid, CheckpointVerifier};
use crate::error::AuditError;
use crate::event::AuditEvent;
use crate::lines::Lines;
use crate::record::{hash_line, AuditRecord, GENESIS_PREV};

/// What [`verify`] / [`verify_with_key`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records that parsed, whatever their place in the chain.
    pub records: u64,
    /// Seq of the first record in the file.
    pub first_seq: Option<u64>,
    /// Seq of the last record in the file.
    pub last_seq: Option<u64>,
    /// Hex hash of the last record's line; an operator can pin it to detect a later
    /// truncation of the file.
    pub last_hash: Option<String>,
    /// Checkpoint records seen.
    pub checkpoints: u64,
    /// Checkpoints whose signature verified with the given public key.
    pub checkpoints_verified: u64,
    /// Id of the public key checkpoints were verified with, if one was given.
    pub key_id: Option<String>,
    /// Seq of the last checkpoint record.
    pub last_checkpoint: Option<u64>,
    /// Records after the last checkpoint (all records when there is none): not sealed yet.
    pub unsealed: u64,
    /// Every gateway name the records carry, in order of first appearance. One for a chain
    /// written by a named gateway, none for an unnamed one; more is a
    /// [`FindingKind::MixedGateways`] problem.
    pub gateways: Vec<String>,
    /// Everything found, in file order; see [`Finding::is_problem`].
    pub findings: Vec<Finding>,
    /// The first problem, for callers that only need where the chain first breaks.
    pub broken: Option<BrokenLink>,
}

impl VerifyReport {
    /// No finding is a problem: every record chains, every checkpoint matches the chain and
    /// (when a key was given) verifies.
    pub fn is_intact(&self) -> bool {
        !self.findings.iter().any(Finding::is_problem)
    }

    /// The gateway that wrote the chain: the first name its records carry.
    pub fn gateway(&self) -> Option<&str> {
        self.gateways.first().map(String::as_str)
    }

    /// The findings that make the trail not intact.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_problem())
    }

    /// The checkpoints in words: how many, and whether their signatures verified (with
    /// `key_note` saying why they were not checked, when no key was given).
    pub fn checkpoint_summary(&self, key_note: Option<&str>) -> String {
        match (&self.key_id, self.checkpoints) {
            (_, 0) => "no checkpoints".to_owned(),
            (Some(key), n) if self.checkpoints_verified == n => {
                format!("{n} checkpoints verified (key {key})")
            }
            (Some(_), n) => format!("{n} checkpoints, {} verified", self.checkpoints_verified),
            (None, n) => format!(
                "{n} checkpoints match the chain, signatures not checked: {}",
                key_note.unwrap_or("no public key")
            ),
        }
    }

    /// The records no checkpoint seals yet, in words; `None` when every record is sealed.
    pub fn unsealed_summary(&self) -> Option<String> {
        match (self.unsealed, self.last_checkpoint) {
            (0, _) => None,
            (n, Some(_)) => Some(format!("{n} records after the last checkpoint")),
            (n, None) => Some(format!("{n} records not sealed by any checkpoint")),
        }
    }

    /// Informational findings that the summaries above do not already say.
    pub fn notes(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| {
            !f.is_problem() && !matches!(f.kind, FindingKind::Unsealed | FindingKind::Unverified)
        })
    }
}

/// One thing the walk found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The seq the finding is about: the altered record, the first removed one, the
    /// checkpoint. `None` when no seq is known (an unparsable line).
    pub seq: Option<u64>,
    /// 1-based line in the file where it shows; `None` for findings about the whole file.
    pub line: Option<u64>,
    pub message: String,
}

impl Finding {
    pub fn is_problem(&self) -> bool {
        self.kind.is_problem()
    }
}

/// What kind of finding. Serialized in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A complete line that is not a record.
    Unparsable,
    /// The last line has no newline: a write cut short, or the file cut mid-record.
    Torn,
    /// Records missing from the chain.
    Removed,
    /// A record's bytes are not those the chain (or a checkpoint) vouches for.
    Altered,
    /// A seq lower than expected: moved or duplicated.
    OutOfOrder,
    /// A checkpoint's signed head does not match the chain it covers: rewritten after sealing.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify with the public key.
    ForgedCheckpoint,
    /// A checkpoint names a key other than the given public key's.
    UnknownKey,
    /// The public key given is not a valid Ed25519 key.
    InvalidPublicKey,
    /// Records of one chain name more than one gateway.
    MixedGateways,
    /// Two trails of a set name the same gateway (see [`crate::verify_trails`]).
    DuplicateGateway,
    /// Informational: records after the last checkpoint, not sealed yet.
    Unsealed,
    /// Informational: checkpoints whose signatures were not checked (no public key).
    Unverified,
    /// Informational: the file starts after seq 1.
    StartsMidChain,
}

impl FindingKind {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unparsable => "unparsable",
            Self::Torn => "torn",
            Self::Removed => "removed",
            Self::Altered => "altered",
            Self::OutOfOrder => "out_of_order",
            Self::CheckpointMismatch => "checkpoint_mismatch",
            Self::ForgedCheckpoint => "forged_checkpoint",
            Self::UnknownKey => "unknown_key",
            Self::InvalidPublicKey => "invalid_public_key",
            Self::MixedGateways => "mixed_gateways",
            Self::DuplicateGateway => "duplicate_gateway",
            Self::Unsealed => "unsealed",
            Self::Unverified => "unverified",
            Self::StartsMidChain => "starts_mid_chain",
        }
    }

    /// Whether this kind makes the trail not intact (the informational kinds do not).
    pub fn is_problem(self) -> bool {
        !matches!(
            self,
            Self::Unsealed | Self::Unverified | Self::StartsMidChain
        )
    }
}

/// Where and why the chain first breaks (the first problem finding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// The seq the finding is about, when known.
    pub seq: Option<u64>,
    /// 1-based line number in the file (0 for a finding about the whole file).
    pub line: u64,
    pub reason: String,
}

/// Checks the chain of the log at `path` without a public key: checkpoints are checked
/// against the chain but their signatures are not (reported as unverified).
pub fn verify(path: &Path) -> Result<VerifyReport, AuditError> {
    verify_with_key(path, None)
}

/// Streams the log at `path` and checks every line parses, seqs are consecutive, each
/// `prev` is the SHA-256 of the line before, every checkpoint's head matches the chain and,
/// with `public_key`, every checkpoint's signature.
///
/// The first record may have any seq (an excerpt starts mid-chain; reported as
/// informational), but a record with seq 1 must carry the genesis `prev`. I/O errors are
/// returned as errors; everything about the content is a [`Finding`].
pub fn verify_with_key(
    path: &Path,
    public_key: Option<&[u8; 32]>,
) -> Result<VerifyReport, AuditError> {
    match public_key {
        Some(key) => verify_with_keys(path, std::slice::from_ref(key)),
        None => verify_with_keys(path, &[]),
    }
}

/// [`verify_with_key`] trusting several public keys: each checkpoint is checked with the key
/// its key id names, and one naming none of them is [`FindingKind::UnknownKey`]. For a set of
/// trails from gateways that each sign with their own key. With no keys, signatures are not
/// checked (as [`verify`]).
///
/// [`VerifyReport::key_id`] is the one key's id when one is given; with several, the id of
/// the key that verified the newest checkpoint.
pub fn verify_with_keys(path: &Path, public_keys: &[[u8; 32]]) -> Result<VerifyReport, AuditError> {
    let mut walk = Walk::new(public_keys);
    let mut lines = Lines::open(path)?;
    while let Some(line) = lines.next_line()? {
        if !line.complete {
            walk.find(
                FindingKind::Torn,
                None,
                Some(line.number),
                format!(
                    "line {} is torn (no trailing newline): a write was cut short or the file \
                     was cut mid-record",
                    line.number
                ),
            );
            break;
        }
        walk.line(line.number, line.bytes);
    }
    Ok(walk.finish())
}

/// The last record that parsed.
#[derive(Clone, Copy)]
struct Last {
    seq: u64,
    hash: [u8; 32],
    line: u64,
}

struct Walk {
    report: VerifyReport,
    /// Trusted keys; empty when none was given (or none was valid).
    verifiers: Vec<CheckpointVerifier>,
    last: Option<Last>,
    /// Unparsable lines since `last`: each stands for one record, so seqs skip them.
    unparsable_since: u64,
    /// Highest seq seen so far.
    max_seq: u64,
    /// `count` of the last checkpoint whose head matched the chain: everything up to it is
    /// sealed and verified.
    sealed_up_to: Option<u64>,
}

impl Walk {
    fn new(public_keys: &[[u8; 32]]) -> Walk {
        let mut walk = Walk {
            report: VerifyReport {
                records: 0,
                first_seq: None,
                last_seq: None,
                last_hash: None,
                checkpoints: 0,
                checkpoints_verified: 0,
                key_id: None,
                last_checkpoint: None,
                unsealed: 0,
                gateways: Vec::new(),
                findings: Vec::new(),
                broken: None,
            },
            verifiers: Vec::new(),
            last: None,
            unparsable_since: 0,
            max_seq: 0,
            sealed_up_to: None,
        };
        for key in public_keys {
            match CheckpointVerifier::new(key) {
                Some(verifier) => {
                    if public_keys.len() == 1 {
                        walk.report.key_id = Some(verifier.key_id().to_owned());
                    }
                    walk.verifiers.push(verifier);
                }
                None => walk.find(
                    FindingKind::InvalidPublicKey,
                    None,
                    None,
                    format!(
                        "the public key {} is not a valid Ed25519 key: no checkpoint can be verified",
                        hex::encode(key)
                    ),
                ),
            }
        }
        walk
    }

    fn find(&mut self, kind: FindingKind, seq: Option<u64>, line: Option<u64>, message: String) {
        self.report.findings.push(Finding {
            kind,
            seq,
            line,
            message,
        });
    }

    fn line(&mut self, number: u64, bytes: &[u8]) {
        let hash = hash_line(bytes);
        let record = match AuditRecord::from_line(bytes) {
            Ok(record) => record,
            Err(err) => {
                let after = match &self.last {
                    Some(last) => format!(" (after seq {})", last.seq),
                    None => String::new(),
                };
                self.find(
                    FindingKind::Unparsable,
                    None,
                    Some(number),
                    format!("line {number}{after} is not a record: {err}"),
                );
                self.unparsable_since += 1;
                self.report.unsealed += 1;
                return;
            }
        };
        self.report.records += 1;
        let seq = record.seq;
        if let Some(name) = record.gateway.as_deref() {
            if !self.report.gateways.iter().any(|g| g == name) {
                if let Some(owner) = self.report.gateways.first() {
                    let message = format!(
                        "record at seq {seq} (line {number}) names gateway {name}, but the chain \
                         belongs to gateway {owner}: two gateways wrote one chain"
                    );
                    self.find(FindingKind::MixedGateways, Some(seq), Some(number), message);
                }
                self.report.gateways.push(name.to_owned());
            }
        }
        let checkpoint = match &record.event {
            AuditEvent::Checkpoint { count, head, .. } => Some((*count, head.as_str())),
            _ => None,
        };

        // The link to the record before.
        let mut removed_reported = false;
        if self.report.first_seq.is_none() {
            self.report.first_seq = Some(seq);
        }
        match self.last {
            None if self.unparsable_since > 0 => {}
            None => {
                if seq == 1 && record.prev != GENESIS_PREV {
                    self.find(
                        FindingKind::Altered,
                        Some(seq),
                        Some(number),
                        format!(
                            "record at seq 1 (line {number}) was altered: its prev is not the \
                             genesis value"
                        ),
                    );
                } else if seq > 1 {
                    self.find(
                        FindingKind::StartsMidChain,
                        Some(seq),
                        Some(number),
                        format!(
                            "the file starts at seq {seq}: records 1 to {} are not in it (an \
                             excerpt, or they were removed)",
                            seq - 1
                        ),
                    );
                }
            }
            Some(last) => {
                let expected = last.seq.saturating_add(1 + self.unparsable_since);
                if seq == expected {
                    let last_hex = hex::encode(last.hash);
                    if self.unparsable_since == 0 && record.prev != last_hex {
                        let (last_seq, last_line) = (last.seq, last.line);
                        if checkpoint
                            .is_some_and(|(count, head)| count == last_seq && head == last_hex)
                        {
                            // The signed head vouches for the line before; the checkpoint's
                            // own `prev` is what changed.
                            self.find(
                                FindingKind::Altered,
                                Some(seq),
                                Some(number),
                                format!(
                                    "checkpoint at seq {seq} (line {number}) was altered: its \
                                     prev was changed"
                                ),
                            );
                        } else {
                            self.find(
                                FindingKind::Altered,
                                Some(last_seq),
                                Some(last_line),
                                format!(
                                    "record at seq {last_seq} (line {last_line}) was altered: \
                                     the prev of the record after it (line {number}) does not \
                                     match its hash"
                                ),
                            );
                        }
                    }
                } else if seq > expected {
                    let what = if seq - expected == 1 {
                        format!("record {expected} was removed")
                    } else {
                        format!("records {expected} to {} were removed", seq - 1)
                    };
                    let sealed = match checkpoint {
                        Some((count, _)) if count >= expected => {
                            format!(" (checkpoint at seq {seq} covered up to {count})")
                        }
                        _ => String::new(),
                    };
                    self.find(
                        FindingKind::Removed,
                        Some(expected),
                        Some(number),
                        format!("{what}{sealed}: line {number} has seq {seq}"),
                    );
                    removed_reported = true;
                } else {
                    self.find(
                        FindingKind::OutOfOrder,
                        Some(seq),
                        Some(number),
                        format!(
                            "record at seq {seq} (line {number}) is out of order: expected seq \
                             {expected}"
                        ),
                    );
                    // Keep chaining from the record before, so one moved line is one
                    // finding here plus the gap where it was taken from.
                    self.report.unsealed += 1;
                    return;
                }
            }
        }

        if let Some((count, head)) = checkpoint {
            self.checkpoint(&record, number, count, head, removed_reported);
            self.report.last_checkpoint = Some(seq);
            self.report.unsealed = 0;
        } else {
            self.report.unsealed += 1;
        }

        self.max_seq = self.max_seq.max(seq);
        self.report.last_seq = Some(seq);
        self.report.last_hash = Some(hex::encode(hash));
        self.last = Some(Last {
            seq,
            hash,
            line: number,
        });
        self.unparsable_since = 0;
    }

    fn checkpoint(
        &mut self,
        record: &AuditRecord,
        number: u64,
        count: u64,
        head: &str,
        removed_reported: bool,
    ) {
        let seq = record.seq;
        self.report.checkpoints += 1;

        // Does the head match the chain it covers?
        let covered = self
            .last
            .as_ref()
            .filter(|last| last.seq == count && self.unparsable_since == 0)
            .map(|last| hex::encode(last.hash));
        match covered {
            Some(actual) if actual == head => self.sealed_up_to = Some(count),
            Some(_) => {
                let from = self
                    .sealed_up_to
                    .map(|c| c + 1)
                    .or(self.report.first_seq)
                    .unwrap_or(1);
                self.find(
                    FindingKind::CheckpointMismatch,
                    Some(seq),
                    Some(number),
                    format!(
                        "records up to seq {count} were altered after checkpoint at seq {seq} \
                         (line {number}) sealed them: the chain from seq {from} to {count} \
                         does not hash to the signed head"
                    ),
                );
            }
            None if count > self.max_seq && !removed_reported => {
                let after = self.max_seq;
                self.find(
                    FindingKind::Removed,
                    Some(after + 1),
                    Some(number),
                    format!(
                        "records after seq {after} were removed (checkpoint at seq {seq} \
                         covered up to {count})"
                    ),
                );
            }
            // A gap, an unparsable line or a checkpoint that does not follow its record:
            // reported by the link check or below.
            None => {}
        }
        if !removed_reported && count <= self.max_seq && count != seq.wrapping_sub(1) {
            self.find(
                FindingKind::Altered,
                Some(seq),
                Some(number),
                format!(
                    "checkpoint at seq {seq} (line {number}) was altered or moved: it covers \
                     seq {count}, not the record before it"
                ),
            );
        }
        if let AuditEvent::Checkpoint { sealed_at, .. } = &record.event {
            if *sealed_at != record.time {
                self.find(
                    FindingKind::Altered,
                    Some(seq),
                    Some(number),
                    format!(
                        "checkpoint at seq {seq} (line {number}) was altered: its time {} is \
                         not the signed time {sealed_at}",
                        record.time
                    ),
                );
            }
        }

        if self.verifiers.is_empty() {
            return;
        }
        let named = match &record.event {
            AuditEvent::Checkpoint { key, .. } => key.as_str(),
            _ => "",
        };
        // The key the checkpoint names, else the first: its verdict is then `OtherKey`.
        let verifier = self
            .verifiers
            .iter()
            .find(|v| v.key_id() == named)
            .or(self.verifiers.first());
        let Some((verdict, used)) =
            verifier.map(|v| (v.verify(&record.event), v.key_id().to_owned()))
        else {
            return;
        };
        let expected = self
            .verifiers
            .iter()
            .map(|v| v.key_id())
            .collect::<Vec<_>>()
            .join(", ");
        match verdict {
            Ok(()) => {
                self.report.checkpoints_verified += 1;
                if self.verifiers.len() > 1 {
                    self.report.key_id = Some(used);
                }
            }
            Err(CheckpointInvalid::OtherKey { key }) => {
                self.find(
                    FindingKind::UnknownKey,
                    Some(seq),
                    Some(number),
                    format!(
                        "checkpoint at seq {seq} (line {number}) names key {key}, not the \
                         trusted key {expected}: forged, or signed by another gateway's key"
                    ),
                );
            }
            Err(why) => self.find(
                FindingKind::ForgedCheckpoint,
                Some(seq),
                Some(number),
                format!("forged checkpoint at seq {seq} (line {number}): {why}"),
            ),
        }
    }

    fn finish(mut self) -> VerifyReport {
        let unsealed = self.report.unsealed;
        if unsealed > 0 {
            let message = match self.report.last_checkpoint {
                Some(at) => format!(
                    "not yet sealed: {unsealed} records after the last checkpoint (seq {at})"
                ),
                None => format!("not yet sealed: {unsealed} records and no checkpoint"),
            };
            self.find(FindingKind::Unsealed, None, None, message);
        }
        let unchecked = self.report.checkpoints - self.report.checkpoints_verified;
        if self.verifiers.is_empty() && unchecked > 0 {
            self.find(
                FindingKind::Unverified,
                None,
                None,
                format!("{unchecked} checkpoint signatures not checked: no public key given"),
            );
        }
        let broken = self.report.problems().next().map(|f| BrokenLink {
            seq: f.seq,
            line: f.line.unwrap_or(0),
            reason: f.message.clone(),
        });
        self.report.broken = broken;
        self.report
    }
}
