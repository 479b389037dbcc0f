//! Masking in the enforcement sequence: the engine built once from the configuration, the
//! plan an allowed statement carries to the protocol's relay, and the tally its result record
//! reports. What to mask comes from the policy decision; how a protocol finds the values is
//! the protocol's business (PostgreSQL: docs/postgres-connection.md).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sluice_audit::Masked;
use sluice_decision::mask::ALL_DETECTORS;
use sluice_decision::{Decision, MaskRules};
use sluice_mask::{Counts, Detectors, Masker, Strategy};

use crate::config::Config;
use crate::lineage::{RelationCache, ResultColumns, ResultPlan};
use crate::CoreError;

/// Rules sluice applies on behalf of masking, named like policy rules in audit.
pub const RULE_MASK_DETECTOR: &str = "sluice.mask_detector";
pub use crate::lineage::RULE_MASK_COPY;

/// The detectors (built-in and configured) and the token key, shared by every session.
pub struct MaskEngine {
    detectors: Detectors,
    masker: Masker,
    catalog_ttl: Duration,
    relations: RelationCache,
}

impl std::fmt::Debug for MaskEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskEngine")
            .field("detectors", &self.detectors.len())
            .finish_non_exhaustive()
    }
}

impl MaskEngine {
    /// Every configured detector, as content masking uses them: what the masking sampler
    /// re-scans recordings with.
    pub fn detectors(&self) -> &Detectors {
        &self.detectors
    }

    pub(crate) fn from_config(config: &Config) -> Result<MaskEngine, CoreError> {
        let detectors = Detectors::new(&sluice_mask::Builtin::ALL, &config.masking.detectors)
            .map_err(|e| CoreError::Config(format!("masking.detectors: {e}")))?;
        let key = token_key(&config.masking_key_path())?;
        Ok(MaskEngine {
            detectors,
            masker: Masker::new(key),
            catalog_ttl: config.masking.catalog_ttl,
            relations: RelationCache::default(),
        })
    }

    /// How long a protocol may trust the source-column names it read from a target.
    pub fn catalog_ttl(&self) -> Duration {
        self.catalog_ttl
    }

    /// The relations read from targets' catalogs for lineage.
    pub(crate) fn relations(&self) -> &RelationCache {
        &self.relations
    }

    /// The names a decision's `content` rules may use.
    fn knows(&self, detector: &str) -> bool {
        detector == ALL_DETECTORS || self.detectors.id(detector).is_some()
    }
}

/// Reads the token key (64 hex digits), creating a random one (mode 0600) when the file does
/// not exist yet.
fn token_key(path: &Path) -> Result<[u8; 32], CoreError> {
    let bad =
        |why: String| CoreError::Config(format!("masking token key {}: {why}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| bad(e.to_string()))?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| bad(format!("must be 32 bytes, found {}", bytes.len())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            crate::secret::write_private(path, hex::encode(key).as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            Ok(key)
        }
        Err(e) => Err(bad(e.to_string())),
    }
}

/// A decision as it may be enforced: masking rules the gateway cannot carry out turn an allow
/// into a denial here, once, before anything is forwarded.
pub(crate) fn enforceable(engine: &MaskEngine, decision: &Decision) -> Option<Decision> {
    let mask = decision.mask.as_ref()?;
    if let Some(unknown) = mask.content.iter().find(|r| !engine.knows(&r.detector)) {
        return Some(Decision::deny(
            RULE_MASK_DETECTOR,
            &decision.policy,
            format!(
                "rule {} masks with detector {:?}, which this gateway does not have",
                decision.rule, unknown.detector
            ),
        ));
    }
    None
}

/// The masking an allowed statement's results get. Cheap to clone.
#[derive(Clone)]
pub struct MaskPlan {
    rules: Arc<MaskRules>,
    engine: Arc<MaskEngine>,
    /// Where each result column's values come from, for requests that read masked columns.
    lineage: Option<Arc<ResultPlan>>,
}

impl std::fmt::Debug for MaskPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskPlan")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

/// Where a result column's values come from, as the target reported and its catalog named it.
#[derive(Debug, Clone, Copy)]
pub struct ColumnSource<'a> {
    pub schema: &'a str,
    pub table: &'a str,
    pub column: &'a str,
}

impl MaskPlan {
    pub(crate) fn new(
        rules: Arc<MaskRules>,
        engine: Arc<MaskEngine>,
        lineage: Option<Arc<ResultPlan>>,
    ) -> MaskPlan {
        MaskPlan {
            rules,
            engine,
            lineage,
        }
    }

    /// Whether the request reads masked columns, so that lineage decides its results' masking.
    pub fn traced(&self) -> bool {
        self.lineage.is_some()
    }

    /// The lineage of the request's `index`-th result (from 0) of `width` columns. `None`
    /// for a request that reads masked columns means the result cannot be matched to its
    /// lineage: every column not masked by its own rule must then be masked whole.
    pub fn result_lineage(&self, index: usize, width: usize) -> Option<&ResultColumns> {
        self.lineage.as_ref()?.result(index, width)
    }

    /// Whether both carry the same decision's rules (cheap: no comparison of the rules).
    pub fn same_rules(&self, other: &MaskPlan) -> bool {
        Arc::ptr_eq(&self.rules, &other.rules)
    }

    /// The whole-value strategy for a result column: the first column rule matching its
    /// source, or (bare patterns only) its name in the result. Matching the result name as well
    /// means an alias such as `AS ssn_copy` is masked by `*ssn*` even when its source is not.
    pub fn column_strategy(
        &self,
        source: Option<ColumnSource<'_>>,
        name: &str,
    ) -> Option<Strategy> {
        self.rules
            .columns
            .iter()
            .find(|rule| {
                source.is_some_and(|s| rule.column.matches(Some(s.schema), Some(s.table), s.column))
                    || rule.column.matches(None, None, name)
            })
            .map(|rule| rule.strategy)
    }

    /// Whether a rule names columns of `relation` (`schema.table`, or for MySQL
    /// `database.table`): a value computed in a request that reads it may carry them.
    pub fn masks_relation(&self, relation: &str) -> bool {
        let Some((schema, table)) = relation.split_once('.') else {
            return false;
        };
        self.rules
            .columns
            .iter()
            .any(|rule| rule.column.scopes(schema, table))
    }

    /// Whether any rule masks columns by where they come from.
    pub fn has_column_rules(&self) -> bool {
        !self.rules.columns.is_empty()
    }

    /// Whether detectors run over values without a column rule.
    pub fn has_content(&self) -> bool {
        !self.rules.content.is_empty()
    }

    /// Masks a whole value; `None` is SQL NULL.
    pub fn mask_value(&self, value: &str, strategy: &Strategy) -> Option<String> {
        self.engine.masker.mask_value(value, strategy)
    }

    /// Replaces what the content rules' detectors find in `text`; `None` when nothing was.
    pub fn mask_content(&self, text: &str, tally: &mut MaskTally) -> Option<String> {
        let detectors = &self.engine.detectors;
        self.engine.masker.mask_content(
            detectors,
            text,
            |id| {
                self.rules
                    .content_strategy(detectors.name(id), detectors.builtin(id).is_some())
            },
            &mut tally.detectors,
        )
    }
}

/// Counts of what masking replaced in one statement's results.
#[derive(Debug, Default)]
pub struct MaskTally {
    columns: BTreeMap<String, u64>,
    detectors: Counts,
    nulled: u64,
}

impl MaskTally {
    /// `n` values of `column` replaced by a column rule.
    pub fn add_column(&mut self, column: &str, n: u64) {
        if n == 0 {
            return;
        }
        match self.columns.get_mut(column) {
            Some(count) => *count += n,
            None => {
                self.columns.insert(column.to_owned(), n);
            }
        }
    }

    /// A value replaced by NULL because it could not be read or rewritten safely.
    pub fn add_nulled(&mut self) {
        self.nulled += 1;
    }

    pub(crate) fn to_audit(&self, plan: &MaskPlan) -> Masked {
        let detectors = &plan.engine.detectors;
        Masked {
            columns: self.columns.clone(),
            detectors: self
                .detectors
                .iter()
                .map(|(id, n)| (detectors.name(id).to_owned(), n))
                .collect(),
            nulled: self.nulled,
        }
    }
}
