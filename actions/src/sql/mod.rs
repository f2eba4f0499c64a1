//! PostgreSQL actions (tokio-postgres): exec, query, promote, sample, and the zero-loss
//! pair `sql.writers` / `sql.verify_no_loss`. Connection strings may carry passwords:
//! they are masked in every message.
mod conn;
mod idset;
mod params;
mod promote;
mod query;
mod sample;
mod sets;
mod value;
mod verify;
mod writers;

pub use idset::IdSet;
