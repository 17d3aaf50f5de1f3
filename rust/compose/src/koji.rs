//! A Koji tag as a compose source, through the hub's XML-RPC API: the tag's
//! current repo (`getRepo`) gives the metadata, and the tag's latest builds
//! as of that repo's event (`listTagged(tag, event=…, latest=True,
//! inherit=True)`) bound what may be picked, so a build tagged after the
//! repo was made can neither sneak in nor be half-visible.
//!
//! Repos live where kojid writes them: `<topurl>/repos/<tag>/<id>/<arch>/`,
//! their hrefs pointing into the topdir through the `toplink` symlink.

use crate::config::KojiConfig;
use crate::error::{ComposeError, Result};
use rustc_hash::FxHashSet;
use std::collections::BTreeMap;
use std::time::Duration;
use strata_repodata::http;
use xmlrpc::{Request, Transport, Value};

/// A tag's current repo and the builds it stands for.
#[derive(Debug, Clone)]
pub(crate) struct KojiRepo {
    pub repo_id: i64,
    /// `name-version-release` of the tag's latest builds at `create_event`.
    pub latest_nvrs: FxHashSet<String>,
    /// `<topurl>/repos/<tag>/<id>`.
    pub base: String,
}

impl KojiRepo {
    /// The repository of one arch.
    pub(crate) fn arch_location(&self, arch: &str) -> String {
        format!("{}/{arch}", self.base)
    }
}

/// The most a hub's answer may hold: `listTagged` of a large tag is tens
/// of MB of XML.
pub(crate) const KOJI_MAX_RESPONSE_BYTES: u64 = 512 << 20;

/// XML-RPC over the process's HTTP agent: each call answered within the
/// `[koji] timeout`, its answer bounded by [`KOJI_MAX_RESPONSE_BYTES`].
struct Hub<'a> {
    url: &'a str,
    timeout: Duration,
}

impl Transport for Hub<'_> {
    type Stream = strata_repodata::http::Body;

    fn transmit(
        self,
        request: &Request<'_>,
    ) -> std::result::Result<Self::Stream, Box<dyn std::error::Error + Send + Sync>> {
        let mut body = Vec::new();
        request.write_as_xml(&mut body)?;
        let deadline = http::Deadline {
            after: self.timeout,
            setting: "[koji] timeout",
        };
        Ok(http::client().post(
            self.url,
            "text/xml",
            body,
            deadline,
            KOJI_MAX_RESPONSE_BYTES,
            "KOJI_MAX_RESPONSE_BYTES",
        )?)
    }
}

/// Koji's keyword arguments: a trailing struct flagged `__starstar`
/// (koji.encode_args), which the hub turns back into `**kwargs`.
fn kwargs(pairs: &[(&str, Value)]) -> Value {
    let mut m: BTreeMap<String, Value> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    m.insert("__starstar".into(), Value::Bool(true));
    Value::Struct(m)
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(i64::from(*i)),
        Value::Int64(i) => Some(*i),
        _ => None,
    }
}

/// Calls `req` on the hub of `config`; `what` names the call in errors.
fn hub_call(config: &KojiConfig, req: Request<'_>, what: &str) -> Result<Value> {
    let hub = config.hub.as_str();
    req.call(Hub {
        url: hub,
        timeout: config.timeout(),
    })
    .map_err(|e| ComposeError::Koji {
        hub: strata_model::redact_credentials(hub).into_owned(),
        message: match e.fault() {
            Some(f) => format!("{what}: {} (fault {})", f.fault_string, f.fault_code),
            None => format!("{what}: {e}"),
        },
    })
}

/// The NVRs of the latest builds of `package` tagged into `tag` now
/// (inherited too): what the tag's next repo will hold of it. One small
/// `listTagged(tag, package=…, latest=True, inherit=True)`.
pub(crate) fn latest_tagged(config: &KojiConfig, tag: &str, package: &str) -> Result<Vec<String>> {
    let builds = hub_call(
        config,
        Request::new("listTagged").arg(tag).arg(kwargs(&[
            ("package", Value::String(package.to_owned())),
            ("latest", Value::Bool(true)),
            ("inherit", Value::Bool(true)),
        ])),
        "listTagged",
    )?;
    Ok(builds
        .as_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|b| b.get("nvr").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// Looks the tag up on the hub: its current repo and latest builds.
pub(crate) fn resolve_tag(config: &KojiConfig, tag: &str) -> Result<KojiRepo> {
    let hub = config.hub.as_str();
    let fail = |message: String| ComposeError::Koji {
        hub: strata_model::redact_credentials(hub).into_owned(),
        message,
    };
    let call = |req: Request<'_>, what: &str| hub_call(config, req, what);
    let info = call(Request::new("getTag").arg(tag), "getTag")?;
    if matches!(info, Value::Nil) {
        return Err(fail(format!("no such tag: {tag}")));
    }
    let repo = call(Request::new("getRepo").arg(tag), "getRepo")?;
    let (repo_id, create_event) = match &repo {
        Value::Nil => {
            return Err(fail(format!(
                "tag {tag} has no current repo (is it a build tag? `koji regen-repo {tag}`)"
            )))
        }
        v => (
            int(v.get("id")).ok_or_else(|| fail("getRepo: no repo id".into()))?,
            int(v.get("create_event")).ok_or_else(|| fail("getRepo: no create_event".into()))?,
        ),
    };
    let builds = call(
        Request::new("listTagged").arg(tag).arg(kwargs(&[
            ("event", Value::Int64(create_event)),
            ("latest", Value::Bool(true)),
            ("inherit", Value::Bool(true)),
        ])),
        "listTagged",
    )?;
    let mut latest_nvrs = FxHashSet::default();
    for b in builds.as_array().unwrap_or_default() {
        if let Some(nvr) = b.get("nvr").and_then(Value::as_str) {
            latest_nvrs.insert(nvr.to_string());
        }
    }
    tracing::info!(
        tag,
        repo = repo_id,
        event = create_event,
        builds = latest_nvrs.len(),
        "resolved Koji tag"
    );
    Ok(KojiRepo {
        repo_id,
        latest_nvrs,
        base: format!(
            "{}/repos/{tag}/{repo_id}",
            config.topurl.trim_end_matches('/')
        ),
    })
}
