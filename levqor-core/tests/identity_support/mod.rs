//! Shared set-up of the identity tests: a fresh system on a temporary
//! database with a manual clock.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use levqor_core::auth::Principal;
use levqor_core::clock::ManualClock;
use levqor_core::users::Role;
use levqor_core::{Config, Levqor, LevqorBuilder};

/// 2027-01-15T08:00:00Z.
pub const T0: i64 = 1_800_000_000_000;

/// A system under test.
pub struct Sys {
    pub lv: Levqor,
    pub clock: Arc<ManualClock>,
    pub dir: PathBuf,
}

pub fn config(dir: &std::path::Path) -> Config {
    Config {
        db: dir.join("levqor.db"),
        data_dir: dir.to_path_buf(),
        workers: 0,
        db_pool: 4,
        ..Config::default()
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "levqor-{tag}-{}",
        levqor_core::ids::random_token(6)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn open_with(cfg: Config, dir: PathBuf) -> Sys {
    let clock = ManualClock::new(T0);
    let lv = LevqorBuilder::new(cfg).clock(clock.clone()).open().unwrap();
    Sys { lv, clock, dir }
}

pub fn open(tag: &str) -> Sys {
    let dir = temp_dir(tag);
    open_with(config(&dir), dir)
}

impl Sys {
    /// A user with an API key; returns the key-authenticated principal and the key.
    pub fn user(&self, email: &str, role: Role) -> (Principal, String) {
        let (_, key) = self.lv.create_api_key(email, role).unwrap();
        let p = self.lv.authenticate_key(&key.secret).unwrap();
        (p, key.secret)
    }
}

impl Drop for Sys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
