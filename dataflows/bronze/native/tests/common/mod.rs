//! What the property tests share: a fixed budget and seed (`make test` runs them).

use proptest::test_runner::{Config, RngSeed};

pub fn config() -> Config {
    Config {
        cases: 2_000,
        rng_seed: RngSeed::Fixed(21),
        failure_persistence: None,
        ..Config::default()
    }
}
