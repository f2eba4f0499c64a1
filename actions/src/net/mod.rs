//! Network faults inside a container's (or a named) network namespace: nftables partitions
//! (`net.partition` / `net.heal`) and tc netem latency and loss (`net.netem` /
//! `net.netem_clear`). Programs run through `nsenter --net=` with an argument vector;
//! rules are generated from parsed addresses, never from the scenario's text.
//!
//! Undo keys: `net.partition:<target>/<table>` (partition → heal that table),
//! `net.netem:<target>/<device>` (netem → clear).
mod netem;
mod netns;
mod partition;

pub use netem::netem_available;
pub use partition::TABLE_PREFIX;
