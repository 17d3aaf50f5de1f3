//! Chains: `/chains` (the newest), `/chains/<id>` (cause, plan, each
//! step's state and reason, links to the composes made), and their API,
//! which answers what `strata chain list --json` and `strata chain show
//! --json` print ([`strata_chain::chain_json`]).

use std::sync::Arc;

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use strata_chain::{Event, Impact, NodeKind, Plan};
use strata_registry::{ChainRecord, TestResult};

use crate::error::ServeError;
use crate::pages::{api, api_limit, base, page, render};
use crate::{json_response, App, AppState};

/// A chain's cause as `strata chain show` prints it: `build NVR`, …; a
/// cause recorded in a form this version does not know is shown as JSON.
fn causes(chain: &ChainRecord) -> Vec<String> {
    match serde_json::from_value::<Vec<Event>>(chain.events.clone()) {
        Ok(events) => events.iter().map(Event::to_string).collect(),
        Err(_) => vec![chain.events.to_string()],
    }
}

/// A row of `/chains`.
#[derive(Serialize)]
struct ChainRow<'a> {
    id: &'a str,
    state: &'a str,
    created_at: i64,
    finished_at: Option<i64>,
    done: usize,
    steps: usize,
    causes: Vec<String>,
}

/// `/api/v1/chains`'s query: `strata chain list --json --limit N`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ChainsQuery {
    limit: Option<String>,
}

async fn list(app: &Arc<App>, limit: usize) -> Result<Vec<ChainRecord>, ServeError> {
    app.pool.run(move |r| Ok(r.list_chains(Some(limit))?)).await
}

pub(crate) async fn chains(state: AppState) -> Response {
    let app = Arc::clone(&state);
    page(
        &state,
        async move {
            // The newest max_list chains: a chain is a few steps, and the
            // registry pages chains only by their number.
            let max = app.limits.max_list;
            let chains = list(&app, max).await?;
            let rows: Vec<ChainRow> = chains
                .iter()
                .map(|c| ChainRow {
                    id: &c.id,
                    state: c.state.as_str(),
                    created_at: c.created_at,
                    finished_at: c.finished_at,
                    done: c.steps.iter().filter(|s| s.state.is_done()).count(),
                    steps: c.steps.len(),
                    causes: causes(c),
                })
                .collect();
            let cut = (chains.len() >= max).then_some(max);
            render(
                "chains.html",
                context! { base => base(&app.base), chains => rows, cut => cut },
                StatusCode::OK,
            )
        }
        .await,
    )
}

/// A step of `/chains/<id>`, with why the plan had it and its tests.
#[derive(Serialize)]
struct StepRow<'a> {
    position: usize,
    module: String,
    /// The artifact's kind (`iso`, `container`, `ostree`) for a step that
    /// builds an artifact; `None` for a module.
    artifact: Option<String>,
    state: &'a str,
    compose_id: Option<&'a str>,
    reason: Option<&'a str>,
    approved_by: Option<&'a str>,
    approved_at: Option<i64>,
    why: Vec<String>,
    tests: Vec<TestResult>,
}

/// A module the plan left alone, and why.
#[derive(Serialize)]
struct LeftRow {
    module: String,
    reason: String,
}

async fn get(app: &Arc<App>, id: String) -> Result<(ChainRecord, serde_json::Value), ServeError> {
    app.pool
        .run(move |r| {
            let chain = r.get_chain(&id)?.ok_or(ServeError::NoSuchChain(id))?;
            let json = strata_chain::chain_json(&chain, r)?;
            Ok((chain, json))
        })
        .await
}

pub(crate) async fn chain(state: AppState, Path(id): Path<String>) -> Response {
    let app = Arc::clone(&state);
    page(
        &state,
        async move {
            let (chain, json) = get(&app, id).await?;
            // The plan, in the impact `strata impact --json` wrote; one
            // this version cannot read is shown as it is.
            let impact: Option<Impact> = serde_json::from_value(chain.plan.clone()).ok();
            let artifacts = impact
                .as_ref()
                .map(|i| i.artifacts.clone())
                .unwrap_or_default();
            let plan: Option<Plan> = impact.map(|i| i.plan);
            let tests = |id: &str| -> Vec<TestResult> {
                json["composes"][id]["tests"]
                    .as_array()
                    .map(|t| {
                        t.iter()
                            .filter_map(|t| serde_json::from_value(t.clone()).ok())
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let steps: Vec<StepRow> = chain
                .steps
                .iter()
                .map(|s| {
                    let module = format!("{}:{}", s.name, s.stream);
                    let planned = plan.as_ref().and_then(|p| {
                        p.steps
                            .iter()
                            .find(|p| p.name == s.name && p.stream == s.stream)
                    });
                    let why = planned
                        .map(|p| p.why.iter().map(ToString::to_string).collect())
                        .unwrap_or_default();
                    let artifact = planned
                        .filter(|p| p.kind == NodeKind::Artifact)
                        .map(|_| artifacts.get(&module).cloned().unwrap_or_default());
                    StepRow {
                        position: s.position + 1,
                        artifact,
                        module,
                        state: s.state.as_str(),
                        compose_id: s.compose_id.as_deref(),
                        reason: s.reason.as_deref(),
                        approved_by: s.approved_by.as_deref(),
                        approved_at: s.approved_at,
                        why,
                        tests: s.compose_id.as_deref().map(tests).unwrap_or_default(),
                    }
                })
                .collect();
            let left: Vec<LeftRow> = plan
                .as_ref()
                .map(|p| {
                    p.left_alone
                        .iter()
                        .map(|(m, why)| LeftRow {
                            module: m.clone(),
                            reason: why.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let raw_plan = plan
                .is_none()
                .then(|| serde_json::to_string_pretty(&chain.plan).unwrap_or_default());
            let ctx = context! {
                base => base(&app.base),
                c => &chain,
                state => chain.state.as_str(),
                causes => causes(&chain),
                steps => steps,
                left => left,
                raw_plan => raw_plan,
            };
            render("chain.html", ctx, StatusCode::OK)
        }
        .await,
    )
}

/// `/api/v1/chains`: `strata chain list --json [--limit N]`.
pub(crate) async fn api_chains(state: AppState, Query(q): Query<ChainsQuery>) -> Response {
    let app = Arc::clone(&state);
    api(async move {
        let limit = api_limit(&app, q.limit.as_deref())?;
        json_response(&list(&app, limit).await?, StatusCode::OK)
    }
    .await)
}

/// `/api/v1/chains/<id>`: `strata chain show --json ID`.
pub(crate) async fn api_chain(state: AppState, Path(id): Path<String>) -> Response {
    let app = Arc::clone(&state);
    api(async move { json_response(&get(&app, id).await?.1, StatusCode::OK) }.await)
}
