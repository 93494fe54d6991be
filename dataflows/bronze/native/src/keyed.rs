//! Per-key state of the columnar stages' kernels: each key's value in a vector, found by name once
//! per batch (then by index per event).

use std::collections::HashMap;

/// Values by key, in the order their keys were first seen.
#[derive(Clone, Debug, Default)]
pub struct Keyed<T> {
    index: HashMap<String, usize>,
    pub entries: Vec<(String, T)>,
}

impl<T> Keyed<T> {
    pub fn new() -> Self {
        Keyed {
            index: HashMap::new(),
            entries: Vec::new(),
        }
    }

    /// The slot of `key`, made with `make` when the key is new.
    pub fn slot(&mut self, key: &str, make: impl FnOnce() -> T) -> usize {
        if let Some(i) = self.index.get(key) {
            return *i;
        }
        self.entries.push((key.to_owned(), make()));
        self.index.insert(key.to_owned(), self.entries.len() - 1);
        self.entries.len() - 1
    }

    /// The slot of `key`, if it has one.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }
}
