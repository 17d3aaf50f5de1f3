//! The pages and the API's reads. Each handler asks the registry once
//! (through the pool) for what it shows; pages render it with the
//! templates (autoescaped: nothing from the registry is trusted), the API
//! answers with the CLI's JSON.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use axum::extract::{Path, Query};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::{context, Environment};
use serde::{Deserialize, Serialize};
use strata_compose::GateReport;
use strata_registry::{ComposeChainInfo, ComposeRecord, InputKind, ListFilter, RecordKind, State};

use crate::error::ServeError;
use crate::{json_response, App, AppState};

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Names end in .html, so minijinja escapes every value for HTML (and
    // so for the SVG inside the pages too).
    for (name, source) in [
        ("base.html", include_str!("templates/base.html")),
        ("composes.html", include_str!("templates/composes.html")),
        ("compose.html", include_str!("templates/compose.html")),
        ("stack.html", include_str!("templates/stack.html")),
        ("latest.html", include_str!("templates/latest.html")),
        ("artifacts.html", include_str!("templates/artifacts.html")),
        ("chains.html", include_str!("templates/chains.html")),
        ("chain.html", include_str!("templates/chain.html")),
        ("error.html", include_str!("templates/error.html")),
        ("filters.html", include_str!("templates/filters.html")),
        ("pager.html", include_str!("templates/pager.html")),
    ] {
        env.add_template(name, source)
            .expect("the templates shipped in the binary parse");
    }
    env.add_filter("time", |t: i64| fmt_time(t));
    env
});

/// The base path, checked when the server started (letters, digits and
/// `/-._~`): written into links as it is.
pub(crate) fn base(base: &str) -> minijinja::Value {
    minijinja::Value::from_safe_string(base.to_owned())
}

fn fmt_time(t: i64) -> String {
    jiff::Timestamp::from_second(t)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| t.to_string())
}

pub(crate) fn render(
    template: &'static str,
    ctx: minijinja::Value,
    status: StatusCode,
) -> Result<Response, ServeError> {
    let html = TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|source| ServeError::Render { template, source })?;
    Ok((status, Html(html)).into_response())
}

/// A page for an error, with its status: 404 for what is not there, 503
/// while the registry is away.
pub(crate) fn error_page(app: &App, err: ServeError) -> Response {
    let status = err.status();
    if status.is_server_error() {
        tracing::warn!(error = %err.chain().join(": "), "request failed");
    }
    let ctx = context! { base => base(&app.base), status => status.as_u16(),
    reason => status.canonical_reason(), chain => err.chain() };
    render("error.html", ctx, status).unwrap_or_else(|e| {
        // The error page itself failed: plain text, still the status.
        (status, e.chain().join("\n")).into_response()
    })
}

/// An error as the API answers it: `{"error": …, "causes": […]}`.
pub(crate) fn error_json(err: ServeError) -> Response {
    let status = err.status();
    if status.is_server_error() {
        tracing::warn!(error = %err.chain().join(": "), "request failed");
    }
    let mut chain = err.chain();
    let error = chain.remove(0);
    let body = serde_json::json!({"error": error, "causes": chain});
    json_response(&body, status).unwrap_or_else(|_| status.into_response())
}

pub(crate) async fn not_found(state: AppState) -> Response {
    error_page(&state, ServeError::NoRoute)
}

pub(crate) async fn index(state: AppState) -> Redirect {
    Redirect::to(&format!("{}/composes", state.base))
}

pub(crate) fn page(app: &App, result: Result<Response, ServeError>) -> Response {
    result.unwrap_or_else(|e| error_page(app, e))
}

pub(crate) fn api(result: Result<Response, ServeError>) -> Response {
    result.unwrap_or_else(error_json)
}

/// `NAME` or `NAME:STREAM`, as `strata composes list` takes it.
fn split_module(module: Option<&str>) -> (Option<String>, Option<String>) {
    match module.filter(|m| !m.is_empty()) {
        None => (None, None),
        Some(m) => match m.split_once(':') {
            Some((n, s)) => (Some(n.to_owned()), Some(s.to_owned())),
            None => (Some(m.to_owned()), None),
        },
    }
}

fn parse_state(state: Option<&str>) -> Result<Option<State>, ServeError> {
    state
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<State>().map_err(|e| ServeError::BadQuery {
                name: "state",
                reason: e.to_string(),
            })
        })
        .transpose()
}

fn name_stream(module: &str) -> Result<(String, String), ServeError> {
    match module.split_once(':') {
        Some((n, s)) if !n.is_empty() && !s.is_empty() => Ok((n.to_owned(), s.to_owned())),
        _ => Err(ServeError::NotNameStream(module.to_owned())),
    }
}

/// A `YYYY-MM-DD` compose date.
fn parse_date(
    name: &'static str,
    value: Option<&str>,
) -> Result<Option<jiff::civil::Date>, ServeError> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    value.parse().map(Some).map_err(|_| ServeError::BadQuery {
        name,
        reason: format!("`{value}` is not a date (YYYY-MM-DD)"),
    })
}

/// A `page` query parameter: 1 when not given.
pub(crate) fn parse_page(page: Option<&str>) -> Result<usize, ServeError> {
    match page.filter(|p| !p.is_empty()) {
        None => Ok(1),
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| ServeError::BadQuery {
                name: "page",
                reason: format!("`{p}` is not a page number (1 to 1000000)"),
            }),
    }
}

/// The links to the pages before and after page `number` of a listing,
/// with the query's other parameters: `(name, value)` pairs the template
/// encodes.
type PageLink = Vec<(&'static str, String)>;

fn page_links(
    params: &[(&'static str, &Option<String>)],
    number: usize,
    more: bool,
) -> (Option<PageLink>, Option<PageLink>) {
    let link = |n: usize| {
        let mut q: PageLink = params
            .iter()
            .filter_map(|(k, v)| {
                v.as_deref()
                    .filter(|v| !v.is_empty())
                    .map(|v| (*k, v.to_owned()))
            })
            .collect();
        q.push(("page", n.to_string()));
        q
    };
    (
        (number > 1).then(|| link(number - 1)),
        more.then(|| link(number + 1)),
    )
}

/// `/composes`'s query: every field optional, checked here so a bad one
/// gets a message naming it.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct ListQuery {
    module: Option<String>,
    state: Option<String>,
    since: Option<String>,
    until: Option<String>,
    page: Option<String>,
}

pub(crate) async fn composes(state: AppState, Query(q): Query<ListQuery>) -> Response {
    let app = Arc::clone(&state);
    page(&state, list_page(app, q, None).await)
}

/// `/artifacts`: `/composes` of artifact composes only.
pub(crate) async fn artifacts(state: AppState, Query(q): Query<ListQuery>) -> Response {
    let app = Arc::clone(&state);
    page(&state, list_page(app, q, Some(RecordKind::Artifact)).await)
}

async fn list_page(
    app: Arc<App>,
    q: ListQuery,
    kind: Option<RecordKind>,
) -> Result<Response, ServeError> {
    let (name, stream) = split_module(q.module.as_deref());
    let size = app.limits.page_size;
    let number = parse_page(q.page.as_deref())?;
    // One page, and one more compose to know whether a next page exists:
    // the registry filters, skips and cuts (in SQL).
    let filter = ListFilter {
        name,
        stream,
        state: parse_state(q.state.as_deref())?,
        since: parse_date("since", q.since.as_deref())?,
        until: parse_date("until", q.until.as_deref())?,
        offset: Some((number - 1) * size),
        limit: Some(size + 1),
        kind,
        ..Default::default()
    };
    let mut shown = app
        .pool
        .run(move |r| Ok(r.list_summaries(&filter)?))
        .await?;
    let more = shown.len() > size;
    shown.truncate(size);
    let (prev, next) = page_links(
        &[
            ("module", &q.module),
            ("state", &q.state),
            ("since", &q.since),
            ("until", &q.until),
        ],
        number,
        more,
    );
    let ctx = context! {
        base => base(&app.base),
        composes => shown,
        query => &q,
        states => State::ALL.map(State::as_str),
        page => number,
        prev => prev,
        next => next,
    };
    let template = match kind {
        Some(RecordKind::Artifact) => "artifacts.html",
        _ => "composes.html",
    };
    render(template, ctx, StatusCode::OK)
}

async fn get_record(app: &Arc<App>, id: String) -> Result<ComposeRecord, ServeError> {
    app.pool
        .run(move |r| r.get(&id)?.ok_or(ServeError::NoSuchCompose(id)))
        .await
}

/// A row of the inputs table: where a compose input's compose is shown.
#[derive(Serialize)]
struct InputRow<'a> {
    kind: &'a str,
    name: &'a str,
    ident: &'a str,
    location: &'a str,
    /// The ident is a compose ID: it links to that compose.
    compose: bool,
}

/// A log file: its path, and the path's parts, each encoded on its own
/// in the link.
#[derive(Serialize)]
struct LogRow {
    name: String,
    parts: Vec<String>,
}

#[derive(Serialize)]
struct GateSectionView {
    arch: String,
    report: String,
    notes: String,
}

pub(crate) async fn compose(state: AppState, Path(id): Path<String>) -> Response {
    let app = Arc::clone(&state);
    page(&state, compose_page(app, id, None).await)
}

/// `/artifacts/<id>`: the compose page of an artifact compose; any other
/// compose is not an artifact (404).
pub(crate) async fn artifact(state: AppState, Path(id): Path<String>) -> Response {
    let app = Arc::clone(&state);
    page(
        &state,
        compose_page(app, id, Some(RecordKind::Artifact)).await,
    )
}

/// A record of `kind` (any, when `None`): 404 when there is none.
async fn get_record_of(
    app: &Arc<App>,
    id: String,
    kind: Option<RecordKind>,
) -> Result<ComposeRecord, ServeError> {
    let rec = get_record(app, id.clone()).await;
    match (kind, rec) {
        (Some(RecordKind::Artifact), Err(ServeError::NoSuchCompose(_))) => {
            Err(ServeError::NoSuchArtifact(id))
        }
        (Some(k), Ok(rec)) if rec.kind() != k => Err(ServeError::NoSuchArtifact(id)),
        (_, rec) => rec,
    }
}

async fn compose_page(
    app: Arc<App>,
    id: String,
    kind: Option<RecordKind>,
) -> Result<Response, ServeError> {
    let rec = get_record_of(&app, id, kind).await?;
    // The chain that made it and its tests: a second read, as `strata
    // composes show` makes it.
    let chain_info: ComposeChainInfo = {
        let id = rec.id.clone();
        app.pool
            .run(move |r| match r.compose_chain_info(&id) {
                // Pruned between the two reads: shown without.
                Err(strata_registry::RegistryError::NoSuchCompose { .. }) => Ok(Default::default()),
                other => Ok(other?),
            })
            .await?
    };
    let inputs: Vec<InputRow> = rec
        .inputs
        .iter()
        .map(|i| InputRow {
            kind: i.kind.as_str(),
            name: &i.name,
            ident: &i.ident,
            location: &i.location,
            compose: matches!(i.kind, InputKind::Compose | InputKind::StackCompose),
        })
        .collect();
    // The report as the compose printed it, through the one rendering;
    // a report the registry cut to its cap is shown as it is kept.
    let (gate, report_json) = match &rec.report {
        None => (None, None),
        Some(value) => match GateReport::from_value(value) {
            Some(report) => (
                Some(
                    report
                        .sections()
                        .into_iter()
                        .map(|s| GateSectionView {
                            arch: s.arch,
                            report: s.report,
                            notes: s.notes,
                        })
                        .collect::<Vec<_>>(),
                ),
                None,
            ),
            None => (None, serde_json::to_string_pretty(value).ok()),
        },
    };
    let timings: Option<BTreeMap<String, String>> = rec.timings.as_ref().map(|t| match t {
        serde_json::Value::Object(map) => map
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        other => BTreeMap::from([("(all)".to_owned(), other.to_string())]),
    });
    let logs: Vec<LogRow> = match &rec.outputs {
        Some(o) => {
            let dir = o.path.clone();
            tokio::task::spawn_blocking(move || crate::logs::list(&dir))
                .await
                .unwrap_or_default()
        }
        None => Vec::new(),
    }
    .into_iter()
    .map(|name| LogRow {
        parts: name.split('/').map(str::to_owned).collect(),
        name,
    })
    .collect();
    let total: usize = rec.packages.values().map(|s| s.len()).sum();
    let ctx = context! {
        base => base(&app.base),
        c => &rec,
        inputs => inputs,
        gate => gate,
        report_json => report_json,
        timings => timings,
        logs => logs,
        total => total,
        chain => chain_info.chain,
        tests => chain_info.tests,
    };
    render("compose.html", ctx, StatusCode::OK)
}

pub(crate) async fn stack(state: AppState, Path(module): Path<String>) -> Response {
    let app = Arc::clone(&state);
    page(&state, stack_page(app, module).await)
}

async fn stack_page(app: Arc<App>, module: String) -> Result<Response, ServeError> {
    let tree = stack_tree(&app, module.clone()).await?;
    let picture = crate::stack::layout(&tree);
    let ctx =
        context! { base => base(&app.base), module => module, tree => &tree, picture => picture };
    render("stack.html", ctx, StatusCode::OK)
}

async fn stack_tree(
    app: &Arc<App>,
    module: String,
) -> Result<strata_compose::TreeNode, ServeError> {
    let (name, stream) = name_stream(&module)?;
    app.pool
        .run(move |r| {
            let rec = r
                .latest_good(&name, &stream)?
                .ok_or_else(|| ServeError::NoGoodCompose(module.clone()))?;
            strata_compose::tree_of_record(r, &rec).map_err(|source| match source {
                strata_compose::ComposeError::Registry(e) => ServeError::from(e),
                source => ServeError::Stack {
                    module,
                    source: Box::new(source),
                },
            })
        })
        .await
}

/// `/latest`'s query: the page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct LatestQuery {
    page: Option<String>,
}

pub(crate) async fn latest(state: AppState, Query(q): Query<LatestQuery>) -> Response {
    let app = Arc::clone(&state);
    page(&state, latest_page(app, q).await)
}

async fn latest_page(app: Arc<App>, q: LatestQuery) -> Result<Response, ServeError> {
    let size = app.limits.page_size;
    let number = parse_page(q.page.as_deref())?;
    // The last good compose of each stream, the streams composed most
    // recently first, a page at a time (one query).
    let filter = ListFilter {
        good: true,
        newest_per_stream: true,
        offset: Some((number - 1) * size),
        limit: Some(size + 1),
        ..Default::default()
    };
    let mut rows = app
        .pool
        .run(move |r| Ok(r.list_summaries(&filter)?))
        .await?;
    let more = rows.len() > size;
    rows.truncate(size);
    let (prev, next) = page_links(&[], number, more);
    render(
        "latest.html",
        context! { base => base(&app.base), rows => rows, page => number, prev => prev,
        next => next },
        StatusCode::OK,
    )
}

/// An API listing's `limit`: at most `max_list`, which is also what none
/// gives.
pub(crate) fn api_limit(app: &App, limit: Option<&str>) -> Result<usize, ServeError> {
    let max = app.limits.max_list;
    match limit {
        None => Ok(max),
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ServeError::BadQuery {
                name: "limit",
                reason: format!("`{l}` is not a number from 1 to {max} ([serve.limits] max_list)"),
            }),
    }
}

/// `/api/v1/composes`: `strata composes list --json [NAME[:STREAM]]
/// [--state S] [--since D] [--until D] [--offset N] [--limit N]`, with at
/// most `max_list` records.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ApiListQuery {
    module: Option<String>,
    state: Option<String>,
    since: Option<String>,
    until: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

pub(crate) async fn api_composes(state: AppState, Query(q): Query<ApiListQuery>) -> Response {
    api(api_list(Arc::clone(&state), q, None).await)
}

/// `/api/v1/artifacts`: `strata artifacts list --json`, as
/// `/api/v1/composes` takes its query.
pub(crate) async fn api_artifacts(state: AppState, Query(q): Query<ApiListQuery>) -> Response {
    api(api_list(Arc::clone(&state), q, Some(RecordKind::Artifact)).await)
}

async fn api_list(
    app: Arc<App>,
    q: ApiListQuery,
    kind: Option<RecordKind>,
) -> Result<Response, ServeError> {
    {
        let (name, stream) = split_module(q.module.as_deref());
        let wanted = parse_state(q.state.as_deref())?;
        let limit = api_limit(&app, q.limit.as_deref())?;
        let offset = q
            .offset
            .as_deref()
            .map(|o| {
                o.parse::<usize>().map_err(|_| ServeError::BadQuery {
                    name: "offset",
                    reason: format!("`{o}` is not a number of composes to skip"),
                })
            })
            .transpose()?;
        let filter = ListFilter {
            name,
            stream,
            state: wanted,
            since: parse_date("since", q.since.as_deref())?,
            until: parse_date("until", q.until.as_deref())?,
            offset,
            limit: Some(limit),
            kind,
            ..Default::default()
        };
        let recs = app
            .pool
            .run(move |r| Ok(r.list_summaries(&filter)?))
            .await?;
        json_response(&recs, StatusCode::OK)
    }
}

/// `/api/v1/composes/<id>`: `strata composes show --json ID`.
pub(crate) async fn api_compose(state: AppState, Path(id): Path<String>) -> Response {
    let app = Arc::clone(&state);
    api(async move { json_response(&get_record(&app, id).await?, StatusCode::OK) }.await)
}

/// `/api/v1/artifacts/<id>`: `strata artifacts show --json ID` of an
/// artifact compose.
pub(crate) async fn api_artifact(state: AppState, Path(id): Path<String>) -> Response {
    let app = Arc::clone(&state);
    api(async move {
        let rec = get_record_of(&app, id, Some(RecordKind::Artifact)).await?;
        json_response(&rec, StatusCode::OK)
    }
    .await)
}

/// `/api/v1/latest/<name>:<stream>`: `strata latest --json NAME:STREAM`.
pub(crate) async fn api_latest(state: AppState, Path(module): Path<String>) -> Response {
    let app = Arc::clone(&state);
    api(async move {
        let (name, stream) = name_stream(&module)?;
        let rec = app
            .pool
            .run(move |r| {
                r.latest_good(&name, &stream)?
                    .ok_or(ServeError::NoGoodCompose(module))
            })
            .await?;
        json_response(&rec, StatusCode::OK)
    }
    .await)
}

/// `/api/v1/stacks/<name>:<stream>`: `strata tree --json NAME:STREAM`.
pub(crate) async fn api_stack(state: AppState, Path(module): Path<String>) -> Response {
    let app = Arc::clone(&state);
    api(async move { json_response(&stack_tree(&app, module).await?, StatusCode::OK) }.await)
}

/// Plain text, never sniffed as anything else.
pub(crate) fn text_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn templates_parse_and_escape() {
        assert!(TEMPLATES.templates().count() >= 6);
        let html = TEMPLATES
            .get_template("error.html")
            .unwrap()
            .render(context! { base => "", status => 404, reason => "Not Found",
            chain => ["<script>x</script>"] })
            .unwrap();
        assert!(
            html.contains("&lt;script&gt;x&lt;&#x2f;script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn listings_share_the_filters_and_the_pager() {
        for (template, listing) in [
            ("composes.html", "composes"),
            ("artifacts.html", "artifacts"),
            ("latest.html", "latest"),
        ] {
            let html = TEMPLATES
                .get_template(template)
                .unwrap()
                .render(
                    context! { base => base("/s"), page => 2, composes => [(); 0],
                    rows => [(); 0], states => ["failed"], query => context! { state => "failed" },
                    prev => [("state", "failed"), ("page", "1")], next => [("page", "3")] },
                )
                .unwrap();
            assert!(
                html.contains(&format!(
                    r#"href="/s/{listing}?state=failed&amp;page=1">newer"#
                )),
                "{html}"
            );
            assert!(html.contains(&format!(r#"href="/s/{listing}?page=3">older"#)));
            if listing != "latest" {
                assert!(html.contains(&format!(r#"action="/s/{listing}""#)));
                assert!(html.contains(r#"<option value="failed" selected>"#));
            }
        }
    }
}
