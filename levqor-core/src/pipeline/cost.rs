//! The cost model: credits per connector step, and dollars per LLM token.
//!
//! Each step costs its connector's price in credits (default 1, set with
//! `LEVQOR_STEP_COSTS="slack=2,http=1"`). A run reserves the sum of its
//! steps' costs before it starts; once it ends, only the steps that reached
//! their connector (attempts > 0) are charged and the rest is refunded.
//! The LLM planner prices its token usage from `LEVQOR_LLM_PRICES`
//! (`"model=input/output"` in USD per million tokens).

use std::collections::BTreeMap;

use super::model::{Step, StepRecord};
use crate::error::{Error, Result};

/// Credits per step, by connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CostTable {
    /// Cost of a connector the table does not name.
    pub default: i64,
    /// Connector name → cost.
    pub per_connector: BTreeMap<String, i64>,
}

impl Default for CostTable {
    fn default() -> Self {
        CostTable {
            default: 1,
            per_connector: BTreeMap::new(),
        }
    }
}

impl CostTable {
    /// Parses `"slack=2,http=1,*=1"` (`*` sets the default).
    ///
    /// # Errors
    /// [`Error::Config`] naming `LEVQOR_STEP_COSTS` for a malformed entry.
    pub fn parse(spec: &str) -> Result<CostTable> {
        let mut t = CostTable::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || {
                Error::Config(format!(
                    "LEVQOR_STEP_COSTS entries must be connector=credits (0 to 1000000), got `{item}`"
                ))
            };
            let (name, n) = item.split_once('=').ok_or_else(bad)?;
            let n: i64 = n.trim().parse().map_err(|_| bad())?;
            if !(0..=1_000_000).contains(&n) || name.trim().is_empty() {
                return Err(bad());
            }
            match name.trim() {
                "*" => t.default = n,
                name => {
                    t.per_connector.insert(name.to_string(), n);
                }
            }
        }
        Ok(t)
    }

    /// Credits one step of `connector` costs.
    pub fn step_cost(&self, connector: &str) -> i64 {
        self.per_connector
            .get(connector)
            .copied()
            .unwrap_or(self.default)
    }

    /// The most a run of these steps can cost (what is reserved).
    pub fn estimate(&self, steps: &[Step]) -> i64 {
        steps.iter().map(|s| self.step_cost(&s.connector)).sum()
    }

    /// What a finished run is charged: the steps that reached their connector.
    pub fn charge(&self, steps: &[Step], records: &[StepRecord]) -> i64 {
        steps
            .iter()
            .zip(records)
            .filter(|(_, r)| r.attempts > 0)
            .map(|(s, _)| self.step_cost(&s.connector))
            .sum()
    }
}

/// USD per million tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenPrice {
    /// Prompt (input) tokens.
    pub input_per_m: f64,
    /// Completion (output) tokens.
    pub output_per_m: f64,
}

/// Model → token price.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmPrices(pub BTreeMap<String, TokenPrice>);

impl Default for LlmPrices {
    fn default() -> Self {
        let mut m = BTreeMap::new();
        m.insert(
            "gpt-4o-mini".into(),
            TokenPrice {
                input_per_m: 0.15,
                output_per_m: 0.60,
            },
        );
        m.insert(
            "gpt-4o".into(),
            TokenPrice {
                input_per_m: 2.50,
                output_per_m: 10.00,
            },
        );
        LlmPrices(m)
    }
}

impl LlmPrices {
    /// Parses `"gpt-4o-mini=0.15/0.60,other=1/2"` over the defaults.
    ///
    /// # Errors
    /// [`Error::Config`] naming `LEVQOR_LLM_PRICES` for a malformed entry.
    pub fn parse(spec: &str) -> Result<LlmPrices> {
        let mut p = LlmPrices::default();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || {
                Error::Config(format!(
                    "LEVQOR_LLM_PRICES entries must be model=input/output USD per 1M tokens, got `{item}`"
                ))
            };
            let (model, prices) = item.split_once('=').ok_or_else(bad)?;
            let (i, o) = prices.split_once('/').ok_or_else(bad)?;
            let i: f64 = i.trim().parse().map_err(|_| bad())?;
            let o: f64 = o.trim().parse().map_err(|_| bad())?;
            if !(i.is_finite() && o.is_finite() && i >= 0.0 && o >= 0.0) {
                return Err(bad());
            }
            p.0.insert(
                model.trim().to_string(),
                TokenPrice {
                    input_per_m: i,
                    output_per_m: o,
                },
            );
        }
        Ok(p)
    }

    /// Dollars for this usage; a model without a price costs 0.
    pub fn cost_usd(&self, model: &str, prompt_tokens: u64, completion_tokens: u64) -> f64 {
        self.0.get(model).map_or(0.0, |p| {
            (prompt_tokens as f64 * p.input_per_m + completion_tokens as f64 * p.output_per_m)
                / 1_000_000.0
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::model::StepStatus;
    use serde_json::json;

    fn step(c: &str) -> Step {
        Step {
            id: c.into(),
            connector: c.into(),
            action: None,
            params: json!({}),
            max_attempts: 1,
            timeout_ms: None,
        }
    }

    #[test]
    fn table_parses_estimates_and_charges_only_steps_that_ran() {
        let t = CostTable::parse("slack=2, http=0,*=3").unwrap();
        let steps = [step("slack"), step("http"), step("echo")];
        assert_eq!(t.estimate(&steps), 5);
        let mut recs: Vec<StepRecord> = steps.iter().map(|s| StepRecord::pending(&s.id)).collect();
        recs[0].attempts = 2;
        recs[0].status = StepStatus::Failed;
        recs[2].status = StepStatus::Skipped;
        assert_eq!(t.charge(&steps, &recs), 2);
        assert!(CostTable::parse("slack").is_err());
        assert!(CostTable::parse("slack=-1").is_err());
        assert_eq!(CostTable::parse("").unwrap(), CostTable::default());
    }

    #[test]
    fn llm_prices() {
        let p = LlmPrices::parse("m=1/2").unwrap();
        assert!((p.cost_usd("m", 1_000_000, 500_000) - 2.0).abs() < 1e-9);
        assert!((p.cost_usd("gpt-4o-mini", 1000, 1000) - 0.00075).abs() < 1e-12);
        assert_eq!(p.cost_usd("unknown", 10, 10), 0.0);
        assert!(LlmPrices::parse("m=1").is_err());
    }
}
