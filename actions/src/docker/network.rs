//! Docker networks through the Engine API: create / remove a network, connect / disconnect
//! a container. A network the run created is removed by the undo stack; a disconnect is
//! reconnected (at the same address when the network has a configured subnet).
//!
//! Undo keys: `docker.network:<network>` (create → rm), `docker.disconnected:<network>/<container>`
//! (disconnect → connect).
use super::{docker_err, inspect, status};
use crate::params::{decode, schema};
use crate::{
    Action, ActionCtx, ActionEntry, ActionError, ActionSpec, ActionTraits, Outcome, OutputField,
    Precondition, Undo,
};
use async_trait::async_trait;
use bollard::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest,
};
use bollard::query_parameters::InspectNetworkOptions;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

fn net_err(network: &str, e: bollard::errors::Error) -> ActionError {
    let code = status(&e);
    let err = ActionError::from(e);
    match code {
        Some(404) => err.hint(format!(
            "no such network or container (network `{network}`): `docker network ls`, `docker ps -a`"
        )),
        _ => err,
    }
}

/// The network's inspect document, None when it does not exist.
async fn network(ctx: &ActionCtx, name: &str) -> Result<Option<Value>, ActionError> {
    let d = ctx.docker().await?;
    match d.inspect_network(name, None::<InspectNetworkOptions>).await {
        Ok(n) => Ok(Some(serde_json::to_value(&n).unwrap_or(Value::Null))),
        Err(e) if status(&e) == Some(404) => Ok(None),
        Err(e) => Err(net_err(name, e)),
    }
}

fn subnet_of(net: &Value) -> Option<(String, String)> {
    let c = net["IPAM"]["Config"].as_array()?.first()?;
    Some((c["Subnet"].as_str()?.to_string(), c["Gateway"].as_str().unwrap_or("").to_string()))
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct CreateParams {
    /// Network name (must not exist yet).
    #[schemars(with = "crate::params::DockerName")]
    name: String,
    /// Driver (default `bridge`).
    driver: Option<String>,
    /// Subnet in CIDR form, e.g. `10.231.7.0/24`; with one, containers can be given fixed
    /// addresses and a disconnected container comes back at its old address.
    subnet: Option<String>,
    /// No route outside the network (containers reach only each other).
    #[serde(default)]
    internal: bool,
    /// Extra labels (`testrunner.managed=true` and `testrunner.step=<step id>` are always added).
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

struct Create;

#[async_trait]
impl Action for Create {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.network_create",
            traits: ActionTraits::NONE,
            summary: "Create a Docker network (bridge by default); removed by the undo stack",
            params: schema::<CreateParams>(),
            outputs: &[
                OutputField { name: "id", ty: "string", doc: "network id" },
                OutputField { name: "name", ty: "string", doc: "network name" },
                OutputField { name: "subnet", ty: "string", doc: "its subnet (CIDR)" },
                OutputField {
                    name: "gateway",
                    ty: "string",
                    doc: "its gateway address (the host's side of a bridge)",
                },
            ],
            example: "- id: net\n  docker.network_create: { name: \"pt-net-${run.id}\" }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: CreateParams = decode(params)?;
        let d = ctx.docker().await?;
        // The Engine (API < 1.44) happily creates a second network of the same name.
        if network(ctx, &p.name).await?.is_some() {
            return Err(ActionError::new(format!("a Docker network named `{}` exists already", p.name))
                .hint("remove it (`docker network rm`), or give this run's network another name"));
        }
        let mut labels: HashMap<String, String> = p.labels.into_iter().collect();
        labels.insert("testrunner.managed".into(), "true".into());
        labels.insert("testrunner.step".into(), ctx.step_id.clone());
        let ipam = p.subnet.map(|s| Ipam {
            config: Some(vec![IpamConfig { subnet: Some(s), ..Default::default() }]),
            ..Default::default()
        });
        let undo = Undo {
            key: format!("docker.network:{}", p.name),
            description: format!("remove network {}", p.name),
            action: "docker.network_rm",
            params: json!({"name": p.name}),
        };
        ctx.intend(&undo);
        let req = NetworkCreateRequest {
            name: p.name.clone(),
            driver: Some(p.driver.unwrap_or_else(|| "bridge".into())),
            internal: Some(p.internal),
            ipam,
            labels: Some(labels),
            ..Default::default()
        };
        let created = d.create_network(req).await.map_err(|e| net_err(&p.name, e))?;
        let net = network(ctx, &p.name).await?.unwrap_or(Value::Null);
        let (subnet, gateway) = subnet_of(&net).unwrap_or_default();
        Ok(Outcome::new()
            .with("id", created.id)
            .with("name", p.name)
            .with("subnet", subnet)
            .with("gateway", gateway)
            .undo(undo))
    }

    async fn probe(&self, _params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_docker(ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RmParams {
    /// Network name or id. A network that does not exist is not an error (already removed).
    #[schemars(with = "crate::params::DockerName")]
    name: String,
}

struct Rm;

#[async_trait]
impl Action for Rm {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.network_rm",
            traits: ActionTraits::NONE,
            summary:
                "Remove a Docker network (its containers must be gone or disconnected); a missing one is ok",
            params: schema::<RmParams>(),
            outputs: &[OutputField { name: "removed", ty: "bool", doc: "false when it did not exist" }],
            example: "- docker.network_rm: { name: \"pt-net-${run.id}\" }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: RmParams = decode(params)?;
        let d = ctx.docker().await?;
        let removed = match d.remove_network(&p.name).await {
            Ok(()) => true,
            Err(e) if status(&e) == Some(404) => false,
            Err(e) => {
                return Err(ActionError::from(e).hint(format!(
                    "is a container still connected to `{}`? (`docker network inspect {}`)",
                    p.name, p.name
                )))
            }
        };
        Ok(Outcome::new().with("removed", removed).resolves(format!("docker.network:{}", p.name)))
    }

    async fn probe(&self, _params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_docker(ctx).await
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct ConnectParams {
    /// Network name or id.
    #[schemars(with = "crate::params::DockerName")]
    network: String,
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
    /// A fixed IPv4 address (the network needs a configured `subnet`).
    ip: Option<std::net::Ipv4Addr>,
    /// Extra DNS names of the container on this network.
    #[serde(default)]
    aliases: Vec<String>,
    /// With `ip`: when the network has no configured subnet (the Engine then refuses fixed
    /// addresses), connect at any address instead of failing. The undo of a disconnect uses it.
    #[serde(default)]
    ip_best_effort: bool,
}

struct Connect;

#[async_trait]
impl Action for Connect {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.network_connect",
            traits: ActionTraits::HEAL,
            summary: "Connect a container to a network (heals a docker.network_disconnect); already connected is ok",
            params: schema::<ConnectParams>(),
            outputs: &[OutputField { name: "ip", ty: "string", doc: "the container's address on that network" }],
            example: "- id: heal\n  docker.network_connect: { network: \"pt-net-${run.id}\", container: \"pt-node1-${run.id}\" }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: ConnectParams = decode(params)?;
        let d = ctx.docker().await?;
        let req = |ip: Option<std::net::Ipv4Addr>| NetworkConnectRequest {
            container: p.container.clone(),
            endpoint_config: Some(EndpointSettings {
                ipam_config: ip.map(|ip| EndpointIpamConfig {
                    ipv4_address: Some(ip.to_string()),
                    ..Default::default()
                }),
                aliases: (!p.aliases.is_empty()).then(|| p.aliases.clone()),
                ..Default::default()
            }),
        };
        let mut result = d.connect_network(&p.network, req(p.ip)).await;
        if let Err(e) = &result {
            if p.ip.is_some() && p.ip_best_effort && e.to_string().contains("user configured subnets") {
                result = d.connect_network(&p.network, req(None)).await;
            }
        }
        if let Err(e) = result {
            // 403 "endpoint ... already exists": the state asked for is there.
            if !(status(&e) == Some(403) && e.to_string().contains("already exists")) {
                return Err(net_err(&p.network, e));
            }
        }
        let ip = ip_on(&inspect(ctx, &p.container).await?, &p.network).unwrap_or_default();
        Ok(Outcome::new()
            .with("ip", ip)
            .resolves(format!("docker.disconnected:{}/{}", p.network, p.container)))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_pair(params, ctx).await
    }
}

/// The container's address on `network` (by name or id).
fn ip_on(container: &Value, network: &str) -> Option<String> {
    let nets = container["NetworkSettings"]["Networks"].as_object()?;
    nets.iter()
        .find(|(name, n)| {
            *name == network || n["NetworkID"].as_str().is_some_and(|id| id.starts_with(network))
        })
        .and_then(|(_, n)| n["IPAddress"].as_str())
        .filter(|ip| !ip.is_empty())
        .map(String::from)
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct DisconnectParams {
    /// Network name or id.
    #[schemars(with = "crate::params::DockerName")]
    network: String,
    /// Container name or id.
    #[schemars(with = "crate::params::DockerName")]
    container: String,
}

struct Disconnect;

#[async_trait]
impl Action for Disconnect {
    fn spec(&self) -> ActionSpec {
        ActionSpec {
            name: "docker.network_disconnect",
            traits: ActionTraits::FAULT,
            summary: "Disconnect a container from a network (a partition); reconnected by the undo stack",
            params: schema::<DisconnectParams>(),
            outputs: &[OutputField { name: "ip", ty: "string", doc: "the address it had on that network" }],
            example: "- id: cut\n  docker.network_disconnect: { network: \"pt-net-${run.id}\", container: \"pt-node1-${run.id}\" }\n",
            background: false,
        }
    }

    async fn run(&self, params: Value, ctx: &ActionCtx) -> Result<Outcome, ActionError> {
        let p: DisconnectParams = decode(params)?;
        let d = ctx.docker().await?;
        let before = inspect(ctx, &p.container).await?;
        let Some(ip) = ip_on(&before, &p.network) else {
            return Err(ActionError::new(format!(
                "container `{}` is not connected to network `{}`",
                p.container, p.network
            ))
            .hint("`docker.inspect` shows its networks (NetworkSettings.Networks)"));
        };
        // Back at the same address where the network lets us choose one (a configured subnet).
        let connect =
            json!({"network": p.network, "container": p.container, "ip": ip, "ip_best_effort": true});
        let undo = Undo {
            key: format!("docker.disconnected:{}/{}", p.network, p.container),
            description: format!("reconnect container {} to network {}", p.container, p.network),
            action: "docker.network_connect",
            params: connect,
        };
        ctx.intend(&undo);
        let req = NetworkDisconnectRequest { container: p.container.clone(), force: Some(true) };
        d.disconnect_network(&p.network, req).await.map_err(|e| docker_err(&p.container, e))?;
        Ok(Outcome::new().with("ip", ip).undo(undo))
    }

    async fn probe(&self, params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
        probe_pair(params, ctx).await
    }
}

async fn probe_docker(ctx: &ActionCtx) -> Vec<Precondition> {
    match ctx.docker().await {
        Err(e) => vec![Precondition::blocker(format!("Docker is not reachable: {}", e.message))],
        Ok(_) => vec![],
    }
}

/// `plan`: Docker answers, and a network / container named literally exists (a templated
/// name, or one an earlier step creates, is only a warning).
async fn probe_pair(params: Value, ctx: &ActionCtx) -> Vec<Precondition> {
    let mut out = probe_docker(ctx).await;
    if !out.is_empty() {
        return out;
    }
    let lit = |k: &str| params.get(k).and_then(Value::as_str).filter(|v| !v.contains("${")).map(String::from);
    if let Some(n) = lit("network") {
        if matches!(network(ctx, &n).await, Ok(None)) {
            out.push(Precondition::warning(format!(
                "network `{n}` does not exist now (created by an earlier step?)"
            )));
        }
    }
    if let Some(c) = lit("container") {
        if inspect(ctx, &c).await.is_err() {
            out.push(Precondition::warning(format!(
                "container `{c}` does not exist now (created by an earlier step?)"
            )));
        }
    }
    out
}

inventory::submit!(ActionEntry(&Create));
inventory::submit!(ActionEntry(&Rm));
inventory::submit!(ActionEntry(&Connect));
inventory::submit!(ActionEntry(&Disconnect));
