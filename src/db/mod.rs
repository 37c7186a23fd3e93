//! PostgreSQL: the pool, its minimum-size upkeep, and migrations.

pub mod migrate;
pub mod pool;
