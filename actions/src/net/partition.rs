//! `net.partition` / `net.heal`: drop or reject traffic between a namespace and named peers
//! with nftables, in one or both directions. Each partition is its own table
//! (`testrunner_<step>_<random>`), so healing removes exactly what it added; the undo is
//! journalled before the rules load, so Ctrl-C, a second signal or `testrunner cleanup`
//! after a SIGKILL all know which table to remove.
use super::netns::{run_in, tool_works, Target};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField,
    Precondition, Undo,
};
use async_trait::async_trait;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

/// Every table this tool creates starts with this; `net.heal` without `table` removes them all.
pub const TABLE_PREFIX: &str = "testrunner_";

/// Which way traffic is cut: both (default), `outgoing` (target → peers) or `incoming`.
#[derive(Deserialize, Clone, Copy, PartialEq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum Direction {
    #[default]
    Both,
    Outgoing,
    Incoming,
}

/// `drop` (default: packets vanish, connections hang) or `reject` (TCP reset / ICMP).
#[derive(Deserialize, Clone, Copy, PartialEq, Debug, Default)]
#[serde(rename_all = "lowercase")]
enum Mode {
    #[default]
    Drop,
    Reject,
}

/// Both enums as a plain inline string `enum` (a `$ref` next to a field's description
/// becomes an `allOf`, which neither the loader nor `explain` reads; see kube/patch.rs).
macro_rules! string_enum_schema {
    ($ty:ident, [$($v:literal),*]) => {
        impl JsonSchema for $ty {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({"type": "string", "enum": [$($v),*]})
            }
        }
    };
}
string_enum_schema!(Direction, ["both", "outgoing", "incoming"]);
string_enum_schema!(Mode, ["drop", "reject"]);

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct PartitionParams {
    /// The container whose network namespace gets the rules (one of `container`, `netns`).
    #[schemars(with = "Option<crate::params::DockerName>")]
    container: Option<String>,
    /// A named network namespace (`/run/netns/<name>`) instead.
    #[schemars(with = "Option<crate::params::DockerName>")]
    netns: Option<String>,
    /// Who is cut off: container names (all their addresses), IP addresses or CIDR blocks.
    peers: Vec<String>,
    /// `both` (default), `outgoing` (target → peers) or `incoming` (peers → target).
    #[serde(default)]
    direction: Direction,
    /// `drop` (default: packets vanish, connections hang) or `reject` (refused at once).
    #[serde(default)]
    mode: Mode,
}

/// An address or block a rule matches, always printed by us (never the user's text).
#[derive(Debug, Clone, PartialEq)]
struct Net {
    addr: IpAddr,
    prefix: Option<u8>,
}

impl std::fmt::Display for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.prefix {
            Some(p) => write!(f, "{}/{p}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

/// `10.0.0.1` or `10.0.0.0/8`; None when the text is neither (then it names a container).
fn parse_net(s: &str) -> Option<Result<Net, ActionError>> {
    let (a, p) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    Some(match p.map(|p| p.parse::<u8>()) {
        None => Ok(Net { addr, prefix: None }),
        Some(Ok(n)) if n <= max => Ok(Net { addr, prefix: Some(n) }),
        _ => Err(ActionError::new(format!("`{s}` is not a CIDR block (prefix 0..={max})"))),
    })
}

/// The whole table, loaded atomically by `nft -f -` (all rules or none).
fn ruleset(table: &str, peers: &[Net], direction: Direction, mode: Mode) -> String {
    let set = |v6: bool| {
        let v: Vec<String> = peers.iter().filter(|n| n.addr.is_ipv6() == v6).map(Net::to_string).collect();
        (!v.is_empty()).then(|| format!("{{ {} }}", v.join(", ")))
    };
    let verdicts: &[&str] = match mode {
        Mode::Drop => &["drop"],
        Mode::Reject => &["meta l4proto tcp reject with tcp reset", "reject"],
    };
    let chain = |name: &str, hook: &str, side: &str| {
        let mut rules = vec![];
        for (family, s) in [("ip", set(false)), ("ip6", set(true))] {
            if let Some(s) = s {
                for v in verdicts {
                    rules.push(format!("\t\t{family} {side} {s} {v}\n"));
                }
            }
        }
        format!(
            "\tchain {name} {{\n\t\ttype filter hook {hook} priority -10; policy accept;\n{}\t}}\n",
            rules.concat()
        )
    };
    let mut out = format!("table inet {table} {{\n");
    if direction != Direction::Incoming {
        out.push_str(&chain("to_peers", "output", "daddr"));
    }
    if direction != Direction::Outgoing {
        out.push_str(&chain("from_peers", "input", "saddr"));
    }
    out.push_str("}\n");
    out
}

/// `testrunner_<step>_<6 hex>`: recognisable, and distinct per partition.
fn table_name(step: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let clean: String = step
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
        .take(24)
        .collect();
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
    );
    format!("{TABLE_PREFIX}{clean}_{:06x}", h.finish() & 0xff_ffff)
}

/// Every address of the peers: containers through Docker, the rest parsed.
async fn resolve_peers(peers: &[String], ctx: &ActionCtx) -> Result<Vec<Net>, ActionError> {
    if peers.is_empty() {
        return Err(ActionError::new("`peers` is empty: name who is cut off"));
    }
    let mut out = vec![];
    for p in peers {
        if let Some(n) = parse_net(p) {
            out.push(n?);
            continue;
        }
        if let Some(e) = testrunner_scenario::names::check_format("docker-name", p) {
            return Err(ActionError::new(format!("peer {e}; nor is it an IP address or CIDR block")));
        }
        let i = crate::docker::inspect(ctx, p).await?;
        let addrs: Vec<Net> = i["NetworkSettings"]["Networks"]
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .flat_map(|n| [n["IPAddress"].as_str(), n["GlobalIPv6Address"].as_str()])
            .flatten()
            .filter_map(|a| a.parse().ok())
            .map(|addr| Net { addr, prefix: None })
            .collect();
        if addrs.is_empty() {
            return Err(ActionError::new(format!("peer container `{p}` has no address of its own"))
                .hint("a container with host networking (or none) cannot be told apart from the host; put it on a docker network"));
        }
        out.extend(addrs);
    }
    out.dedup();
    Ok(out)
}

fn limit(ctx: &ActionCtx) -> Duration {
    ctx.remaining().min(Duration::from_secs(10))
}

struct Partition;

#[async_trait]
impl Action for Partition {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "net.partition",
            traits: ActionTraits::FAULT,
            summary: "Cut a container (or named netns) off from peers with nftables, one or both ways; healed by the undo stack",
            params: schema::<PartitionParams>(),
            outputs: &[
                OutputField { name: "table", ty: "string", doc: "the nftables table holding the rules (inet family)" },
                OutputField { name: "target", ty: "string", doc: "where they are: `container:<name>` or `netns:<name>`" },
                OutputField { name: "peers", ty: "list", doc: "the addresses cut off" },
                OutputField { name: "rules", ty: "string", doc: "the ruleset loaded" },
            ],
            example: "- id: cut\n  net.partition:\n    container: \"pt-node1-${run.id}\"\n    peers: [\"pt-pg-${run.id}\"]\n    direction: both\n    mode: drop\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: PartitionParams = decode(params)?;
        let target = Target { container: p.container, netns: p.netns };
        let peers = resolve_peers(&p.peers, ctx).await?;
        let ns = target.require(ctx).await?;
        let table = table_name(&ctx.step_id);
        let rules = ruleset(&table, &peers, p.direction, p.mode);
        let mut heal = target.to_params();
        heal["table"] = json!(table);
        let undo = Undo {
            key: format!("net.partition:{}/{table}", ns.label),
            description: format!("remove nftables table {table} in {} (heal the partition)", ns.label),
            action: "net.heal",
            params: heal,
        };
        // Write-ahead: the table's name is journalled before it exists.
        ctx.intend(&undo);
        run_in(&ns, &["nft", "-f", "-"], Some(&rules), limit(ctx)).await?;
        Ok(Outcome::new()
            .with("table", table)
            .with("target", ns.label.clone())
            .with("peers", peers.iter().map(Net::to_string).collect::<Vec<_>>())
            .with("rules", rules)
            .undo(undo))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_target(params, ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct HealParams {
    /// The container whose rules are removed (one of `container`, `netns`).
    #[schemars(with = "Option<crate::params::DockerName>")]
    container: Option<String>,
    /// A named network namespace (`/run/netns/<name>`) instead.
    #[schemars(with = "Option<crate::params::DockerName>")]
    netns: Option<String>,
    /// One table to remove (a partition's `table` output); default: every `testrunner_*`
    /// table there. Tables this tool did not create are never touched.
    table: Option<String>,
}

struct Heal;

#[async_trait]
impl Action for Heal {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "net.heal",
            traits: ActionTraits::HEAL,
            summary: "Remove net.partition rules (one table, or all of this tool's) from a container or named netns",
            params: schema::<HealParams>(),
            outputs: &[
                OutputField { name: "removed", ty: "list", doc: "the tables removed" },
                OutputField { name: "gone", ty: "bool", doc: "the namespace no longer exists (its rules went with it)" },
            ],
            example: "- id: heal\n  net.heal: { container: \"pt-node1-${run.id}\" }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: HealParams = decode(params)?;
        if let Some(t) = &p.table {
            let ok = t.starts_with(TABLE_PREFIX) && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(ActionError::new(format!("`{t}` is not a table net.partition made"))
                    .hint(format!("its tables are named `{TABLE_PREFIX}…`; others are never removed")));
            }
        }
        let target = Target { container: p.container, netns: p.netns };
        let Some(ns) = target.resolve(ctx).await? else {
            return Ok(Outcome::new().with("removed", json!([])).with("gone", true));
        };
        let listing = run_in(&ns, &["nft", "list", "tables"], None, limit(ctx)).await?;
        let ours: Vec<String> = listing
            .lines()
            .filter_map(|l| l.trim().strip_prefix("table inet "))
            .filter(|t| t.starts_with(TABLE_PREFIX) && p.table.as_deref().is_none_or(|x| x == *t))
            .map(String::from)
            .collect();
        let mut o = Outcome::new();
        for t in &ours {
            run_in(&ns, &["nft", "delete", "table", "inet", t], None, limit(ctx)).await?;
            o = o.resolves(format!("net.partition:{}/{t}", ns.label));
        }
        Ok(o.with("removed", ours).with("gone", false))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_target(params, ctx).await
    }
}

/// `plan` (read-only): nsenter and nft are installed, nftables answers (`nft list tables`
/// in our own namespace), and a literally named target exists.
pub(super) async fn probe_target(params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
    let mut out = vec![];
    for (tool, args) in [("nsenter", &["--version"][..]), ("nft", &["list", "tables"][..])] {
        if let Err(e) = tool_works(tool, args).await {
            out.push(Precondition::blocker(e.message));
        }
    }
    let lit = |k: &str| params.get(k).and_then(Value::as_str).filter(|v| !v.contains("${")).map(String::from);
    let target = Target { container: lit("container"), netns: lit("netns") };
    if target.container.is_none() && target.netns.is_none() {
        return out;
    }
    match target.resolve(ctx).await {
        Ok(Some(_)) => {}
        Ok(None) => out.push(Precondition::warning(format!(
            "{} has no network namespace now (started by an earlier step?)",
            target.label()
        ))),
        Err(e) => out.push(Precondition::blocker(e.message)),
    }
    out
}

inventory::submit!(ActionEntry(&Partition));
inventory::submit!(ActionEntry(&Heal));

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Net {
        parse_net(s).unwrap().unwrap()
    }

    #[test]
    fn rules_match_the_peers_in_the_asked_directions() {
        let peers = [n("172.18.0.2"), n("10.0.0.0/8"), n("fd00::1")];
        let r = ruleset("testrunner_cut_abc123", &peers, Direction::Both, Mode::Drop);
        assert_eq!(
            r,
            "table inet testrunner_cut_abc123 {\n\
             \tchain to_peers {\n\t\ttype filter hook output priority -10; policy accept;\n\
             \t\tip daddr { 172.18.0.2, 10.0.0.0/8 } drop\n\t\tip6 daddr { fd00::1 } drop\n\t}\n\
             \tchain from_peers {\n\t\ttype filter hook input priority -10; policy accept;\n\
             \t\tip saddr { 172.18.0.2, 10.0.0.0/8 } drop\n\t\tip6 saddr { fd00::1 } drop\n\t}\n}\n"
        );
        let r = ruleset("t", &peers[..1], Direction::Outgoing, Mode::Reject);
        assert!(r.contains("ip daddr { 172.18.0.2 } meta l4proto tcp reject with tcp reset\n"), "{r}");
        assert!(r.contains("ip daddr { 172.18.0.2 } reject\n") && !r.contains("input"), "{r}");
        let r = ruleset("t", &peers[..1], Direction::Incoming, Mode::Drop);
        assert!(r.contains("hook input") && !r.contains("hook output"), "{r}");
    }

    #[test]
    fn peers_are_addresses_blocks_or_container_names_never_rule_text() {
        assert_eq!(n("10.1.2.0/24").to_string(), "10.1.2.0/24");
        assert!(parse_net("10.1.2.0/33").unwrap().is_err());
        assert!(parse_net("pg-primary").is_none(), "a name, resolved through Docker");
        // Text that would extend the rule is neither an address nor a container name.
        assert!(parse_net("1.2.3.4 } accept; {").is_none());
        assert!(testrunner_scenario::names::check_format("docker-name", "1.2.3.4 } accept; {").is_some());
        let t = table_name("Cut PG!");
        assert!(t.starts_with("testrunner_cut_pg__") && t.len() == "testrunner_cut_pg__".len() + 6, "{t}");
        assert_ne!(table_name("x"), table_name("x"));
    }
}
