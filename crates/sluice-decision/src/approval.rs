//! What a decision that holds a request for human approval asks for.

use serde::{Deserialize, Serialize};

/// Most approvals one requirement may ask for: a larger number is a typo, and a review that
/// can never gather its approvals only ever times out.
pub const MAX_APPROVALS: u32 = 10;

/// One requirement a held request must meet: `approvals` distinct reviewers from any of
/// `groups` approve it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequirement {
    pub groups: Vec<String>,
    #[serde(default = "one")]
    pub approvals: u32,
    /// Shown to reviewers: why this request needs them.
    #[serde(default)]
    pub reason: String,
}

fn one() -> u32 {
    1
}

impl ApprovalRequirement {
    /// Refuses what could never be met or could be met by anyone.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.groups.is_empty() || self.groups.iter().any(|g| g.is_empty()) {
            return Err("the decision's approval must name at least one non-empty group".into());
        }
        if !(1..=MAX_APPROVALS).contains(&self.approvals) {
            return Err(format!(
                "the decision's approval asks for {} approvals; it must be 1 to {MAX_APPROVALS}",
                self.approvals
            ));
        }
        Ok(())
    }

    /// Whether `reviewer_groups` lets a reviewer count towards this requirement.
    pub fn admits(&self, reviewer_groups: &[String]) -> bool {
        self.groups.iter().any(|g| reviewer_groups.contains(g))
    }
}

/// Whether approvals from reviewers with these groups meet every requirement. Each reviewer
/// is one approval, counted towards every requirement whose groups they belong to: one
/// person in two required groups can satisfy both, as the policy's groups say they may.
pub fn requirements_met<'a>(
    requirements: &[ApprovalRequirement],
    approvers: impl Iterator<Item = &'a [String]> + Clone,
) -> bool {
    requirements.iter().all(|r| {
        let counted = approvers.clone().filter(|groups| r.admits(groups)).count();
        counted >= r.approvals as usize
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(groups: &[&str], approvals: u32) -> ApprovalRequirement {
        ApprovalRequirement {
            groups: groups.iter().map(|g| g.to_string()).collect(),
            approvals,
            reason: String::new(),
        }
    }

    #[test]
    fn validation() {
        assert!(req(&["dba"], 1).validate().is_ok());
        assert!(req(&[], 1).validate().is_err());
        assert!(req(&[""], 1).validate().is_err());
        assert!(req(&["dba"], 0).validate().is_err());
        assert!(req(&["dba"], MAX_APPROVALS + 1).validate().is_err());
    }

    #[test]
    fn counting() {
        let dba = vec!["dba".to_string()];
        let sec = vec!["security".to_string()];
        let both = vec!["dba".to_string(), "security".to_string()];
        let two_dba = [req(&["dba"], 2)];
        assert!(!requirements_met(&two_dba, [dba.as_slice()].into_iter()));
        assert!(requirements_met(
            &two_dba,
            [dba.as_slice(), both.as_slice()].into_iter()
        ));
        assert!(!requirements_met(
            &two_dba,
            [dba.as_slice(), sec.as_slice()].into_iter()
        ));
        let split = [req(&["dba"], 1), req(&["security"], 1)];
        assert!(requirements_met(&split, [both.as_slice()].into_iter()));
        assert!(!requirements_met(&split, [dba.as_slice()].into_iter()));
    }
}
