//! How many spans each detector masked, for the audit trail (counts, never values).

use crate::DetectorId;

/// Per-detector counters indexed by [`DetectorId`]. Keep one per statement or session and
/// reuse it: it grows to the highest detector seen and then stops allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    by_detector: Vec<u64>,
}

impl Counts {
    pub fn new() -> Counts {
        Counts::default()
    }

    pub fn add(&mut self, id: DetectorId) {
        let index = id.index();
        if self.by_detector.len() <= index {
            self.by_detector.resize(index + 1, 0);
        }
        if let Some(count) = self.by_detector.get_mut(index) {
            *count += 1;
        }
    }

    pub fn get(&self, id: DetectorId) -> u64 {
        self.by_detector.get(id.index()).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.by_detector.iter().sum()
    }

    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// The detectors with a non-zero count, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (DetectorId, u64)> + '_ {
        self.by_detector
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .filter_map(|(index, &count)| Some((DetectorId::from_index(index)?, count)))
    }

    /// Zeroes every counter, keeping the memory.
    pub fn clear(&mut self) {
        self.by_detector.fill(0);
    }
}
