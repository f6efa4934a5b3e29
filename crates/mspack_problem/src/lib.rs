//! `mspack_problem`: RFC 9457 Problem Details for axum services.
//!
//! Every error a service answers is an `application/problem+json` object whose `status` equals
//! the HTTP status. [`Problem`] is the type handlers return; [`install`] wires a router so that
//! the errors nobody wrote a handler for become problems too: unknown paths (404), wrong methods
//! (405, keeping `Allow`), bodies that are not JSON (400/415/422 through [`Json`]), panics and any
//! other bare error response (5xx are masked: no internal text leaves the service). Each problem
//! gets an `instance` (the request path) and, inside a traced request, a `trace_id` extension.
//!
//! ```
//! use axum::{Router, routing::get};
//! use mspack_problem::Problem;
//!
//! async fn item() -> Result<&'static str, Problem> {
//!     Err(Problem::new(404).with_detail("no item with id 7"))
//! }
//! let app: Router = mspack_problem::install(Router::new().route("/items/7", get(item)));
//! # let _ = app;
//! ```
//!
//! This file is also copied verbatim into every service that `mspack new` writes, so the code
//! tested here is the code a generated service runs.

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::task::{self, Poll};

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{StatusCode, Uri};
use opentelemetry::trace::TraceContextExt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The media type of a problem document (RFC 9457 section 3).
pub const CONTENT_TYPE_PROBLEM: &str = "application/problem+json";

/// The `type` of problems that carry no more meaning than their HTTP status.
pub const ABOUT_BLANK: &str = "about:blank";

/// One RFC 9457 problem: `type`, `title`, `status`, `detail`, `instance`, plus extensions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// An absolute URI naming the problem type; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Constant per `type`; for `about:blank` the status' reason phrase.
    pub title: String,
    /// The HTTP status code; always equal to the response's status.
    pub status: u16,
    /// What went wrong this time, safe to show to the caller.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub detail: Option<String>,
    /// The occurrence: the request path unless a handler set something else.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub instance: Option<String>,
    /// The W3C trace id of the request, so a caller's report leads to the trace.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub trace_id: Option<String>,
    /// Validation errors, each with a JSON Pointer (RFC 6901) into the request body.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub errors: Vec<FieldError>,
    /// Any other extension members.
    #[serde(flatten)]
    pub extensions: Map<String, Value>,
    /// Seconds for a `Retry-After` header (429 and 503).
    #[serde(skip)]
    pub retry_after: Option<u64>,
}

/// One invalid part of a request body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// JSON Pointer to the offending value, e.g. `/items/0/name`.
    pub pointer: String,
    pub detail: String,
}

impl Problem {
    /// A problem with type `about:blank` whose title is the status' reason phrase.
    /// Status codes outside 100..=599 become 500.
    pub fn new(status: u16) -> Problem {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Problem {
            type_uri: ABOUT_BLANK.to_owned(),
            title: status
                .canonical_reason()
                .unwrap_or("Unknown Status")
                .to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            trace_id: None,
            errors: Vec::new(),
            extensions: Map::new(),
            retry_after: None,
        }
    }

    /// A problem of an application-defined type (an absolute URI) with its constant title.
    pub fn typed(type_uri: impl Into<String>, title: impl Into<String>, status: u16) -> Problem {
        let mut problem = Problem::new(status);
        problem.type_uri = type_uri.into();
        problem.title = title.into();
        problem
    }

    /// A 500 that says nothing about its cause.
    pub fn internal() -> Problem {
        Problem::new(500)
    }

    /// A 422 listing what is wrong with the request body.
    pub fn validation(errors: Vec<FieldError>) -> Problem {
        let mut problem = Problem::new(422).with_detail("the request body is not valid");
        problem.errors = errors;
        problem
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Problem {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_instance(mut self, instance: impl Into<String>) -> Problem {
        self.instance = Some(instance.into());
        self
    }

    pub fn with_error(mut self, pointer: impl Into<String>, detail: impl Into<String>) -> Problem {
        self.errors.push(FieldError {
            pointer: pointer.into(),
            detail: detail.into(),
        });
        self
    }

    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<Value>) -> Problem {
        self.extensions.insert(key.into(), value.into());
        self
    }

    /// Ask the caller to retry after `seconds` (sent as `Retry-After`).
    pub fn with_retry_after(mut self, seconds: u64) -> Problem {
        self.retry_after = Some(seconds);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 5xx problems keep their type, title and status but lose anything that could describe
    /// the server's internals.
    fn masked(mut self) -> Problem {
        if self.status >= 500 {
            self.detail = None;
            self.errors.clear();
            self.extensions.clear();
        }
        self
    }

    fn to_response(&self) -> Response {
        let problem = self.clone().masked();
        let body = serde_json::to_vec(&problem).unwrap_or_else(|_| {
            br#"{"type":"about:blank","title":"Internal Server Error","status":500}"#.to_vec()
        });
        let mut response = (problem.status_code(), body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_PROBLEM));
        if let Some(seconds) = problem.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response.extensions_mut().insert(problem);
        response
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        self.to_response()
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Problem {
        match &rejection {
            JsonRejection::JsonSyntaxError(_) => {
                Problem::new(400).with_detail("the request body is not valid JSON")
            }
            JsonRejection::JsonDataError(error) => {
                let text = error.body_text();
                let (pointer, detail) = data_error_pointer(&text);
                Problem::validation(vec![FieldError { pointer, detail }])
            }
            JsonRejection::MissingJsonContentType(_) => {
                Problem::new(415).with_detail("expected `content-type: application/json`")
            }
            other => Problem::new(other.status().as_u16()),
        }
    }
}

/// axum's data error text is `Failed to deserialize the JSON body into the target type: a.b[0]: why`;
/// turn the path into a JSON Pointer.
fn data_error_pointer(text: &str) -> (String, String) {
    let rest = text
        .split_once("target type: ")
        .map(|(_, rest)| rest)
        .unwrap_or(text);
    match rest.split_once(": ") {
        Some((path, why)) if !path.contains(' ') => {
            let mut pointer = String::new();
            for part in path.split(['.', '[']) {
                let part = part.trim_end_matches(']');
                if !part.is_empty() {
                    pointer.push('/');
                    pointer.push_str(&part.replace('~', "~0").replace('/', "~1"));
                }
            }
            (pointer, why.to_owned())
        }
        _ => (String::new(), rest.to_owned()),
    }
}

/// A JSON body extractor and response whose rejections are problems (400, 415, 422).
#[derive(Clone, Copy, Debug, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Json<T>, Problem> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(Problem::from(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The fallback for paths no route matches.
pub async fn not_found(uri: Uri) -> Problem {
    Problem::new(404).with_detail(format!("no resource at {}", uri.path()))
}

/// Turn a panic into a masked 500 problem (used with `tower_http`'s `CatchPanicLayer`).
pub fn panic_response(_panic: Box<dyn Any + Send + 'static>) -> Response {
    Problem::internal().into_response()
}

/// Middleware that makes every error response a problem: problems get `instance` and
/// `trace_id`; bare 4xx/5xx responses (axum's 405, a body-limit 413, a timeout 503) become
/// `about:blank` problems with the same status and headers (e.g. `Allow`, `Retry-After`).
/// [`install`] adds the same as a [`ProblemLayer`], which costs less per request.
pub async fn problem_middleware(request: Request, next: Next) -> Response {
    let uri = request.uri().clone();
    let response = next.run(request).await;
    as_problem(&uri, response)
}

/// `response` unchanged when it is not an error, else as a problem (see [`problem_middleware`]).
fn as_problem(uri: &Uri, response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    let mut problem = parts
        .extensions
        .remove::<Problem>()
        .unwrap_or_else(|| Problem::new(status.as_u16()));
    if problem.instance.is_none() {
        problem.instance = Some(uri.path().to_owned());
    }
    if problem.trace_id.is_none() {
        problem.trace_id = current_trace_id();
    }
    let rebuilt = problem.to_response();
    let (new_parts, body) = rebuilt.into_parts();
    for (name, value) in &new_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    parts.headers.remove(CONTENT_LENGTH);
    parts.status = new_parts.status;
    parts.extensions.extend(new_parts.extensions);
    Response::from_parts(parts, body)
}

/// Tower layer doing what [`problem_middleware`] does.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProblemLayer;

impl<S> tower::Layer<S> for ProblemLayer {
    type Service = ProblemService<S>;

    fn layer(&self, inner: S) -> ProblemService<S> {
        ProblemService { inner }
    }
}

/// The service [`ProblemLayer`] wraps around the routes.
#[derive(Clone, Debug)]
pub struct ProblemService<S> {
    inner: S,
}

type BoxedResponse<E> = Pin<Box<dyn Future<Output = Result<Response, E>> + Send>>;

impl<S> tower::Service<Request> for ProblemService<S>
where
    S: tower::Service<Request, Response = Response> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxedResponse<S::Error>;

    fn poll_ready(&mut self, cx: &mut task::Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let uri = request.uri().clone();
        let response = self.inner.call(request);
        Box::pin(async move { Ok(as_problem(&uri, response.await?)) })
    }
}

/// The trace id of the OpenTelemetry context of the running request, if it is sampled or valid.
fn current_trace_id() -> Option<String> {
    let context = opentelemetry::Context::current();
    let span = context.span();
    let span_context = span.span_context();
    span_context
        .is_valid()
        .then(|| span_context.trace_id().to_string())
}

/// Wire `router` so that every error it answers is a problem: 404 fallback, panics caught as
/// masked 500s, and [`problem_middleware`] around everything.
pub fn install<S>(router: axum::Router<S>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router
        .fallback(not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
        .layer(ProblemLayer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::routing::{get, post};
    use tower::ServiceExt;

    #[derive(Deserialize, Serialize)]
    struct Item {
        name: String,
    }

    async fn create(Json(item): Json<Item>) -> Json<Item> {
        Json(item)
    }

    async fn boom() -> &'static str {
        panic!("database password is hunter2")
    }

    async fn busy() -> Problem {
        Problem::new(503).with_retry_after(5)
    }

    async fn leaky() -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, "stack trace: secret").into_response()
    }

    fn app() -> axum::Router {
        install(
            axum::Router::new()
                .route("/items", post(create))
                .route("/boom", get(boom))
                .route("/busy", get(busy))
                .route("/leaky", get(leaky)),
        )
    }

    async fn call(
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (u16, String, Value, Option<String>) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        let request = request
            .body(Body::from(body.to_owned()))
            .unwrap_or_default();
        let response = app().oneshot(request).await.unwrap_or_default();
        let status = response.status().as_u16();
        let ct = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let retry = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let bytes = to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, ct, json, retry)
    }

    fn assert_problem(status: u16, ct: &str, body: &Value, expected: u16) {
        assert_eq!(status, expected);
        assert_eq!(ct, CONTENT_TYPE_PROBLEM);
        assert_eq!(body["status"], expected);
        assert!(
            body["type"].is_string() && body["title"].is_string(),
            "{body}"
        );
    }

    #[tokio::test]
    async fn unknown_path_is_a_404_problem_with_instance() {
        let (status, ct, body, _) = call("GET", "/nope", None, "").await;
        assert_problem(status, &ct, &body, 404);
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["type"], "about:blank");
        assert_eq!(body["instance"], "/nope");
    }

    #[tokio::test]
    async fn wrong_method_is_a_405_problem() {
        let (status, ct, body, _) = call("DELETE", "/items", None, "").await;
        assert_problem(status, &ct, &body, 405);
        assert_eq!(body["title"], "Method Not Allowed");
    }

    #[tokio::test]
    async fn bad_json_is_a_400_problem() {
        let (status, ct, body, _) =
            call("POST", "/items", Some("application/json"), "{not json").await;
        assert_problem(status, &ct, &body, 400);
    }

    #[tokio::test]
    async fn missing_content_type_is_a_415_problem() {
        let (status, ct, body, _) = call("POST", "/items", None, "{}").await;
        assert_problem(status, &ct, &body, 415);
    }

    #[tokio::test]
    async fn wrong_shape_is_a_422_problem_with_a_pointer() {
        let (status, ct, body, _) =
            call("POST", "/items", Some("application/json"), r#"{"name": 7}"#).await;
        assert_problem(status, &ct, &body, 422);
        assert_eq!(body["errors"][0]["pointer"], "/name");
    }

    #[tokio::test]
    async fn panics_are_masked_500_problems() {
        let (status, ct, body, _) = call("GET", "/boom", None, "").await;
        assert_problem(status, &ct, &body, 500);
        assert!(!body.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn bare_500_bodies_are_replaced() {
        let (status, ct, body, _) = call("GET", "/leaky", None, "").await;
        assert_problem(status, &ct, &body, 500);
        assert!(!body.to_string().contains("secret"));
    }

    #[tokio::test]
    async fn unavailable_carries_retry_after() {
        let (status, ct, body, retry) = call("GET", "/busy", None, "").await;
        assert_problem(status, &ct, &body, 503);
        assert_eq!(retry.as_deref(), Some("5"));
    }

    #[test]
    fn masked_problems_drop_detail_and_extensions() {
        let problem = Problem::new(502)
            .with_detail("upstream 10.0.0.7 refused")
            .with_extension("host", "db-1")
            .masked();
        assert_eq!(problem.detail, None);
        assert!(problem.extensions.is_empty());
        let client = Problem::new(409).with_detail("version 3 is stale").masked();
        assert_eq!(client.detail.as_deref(), Some("version 3 is stale"));
    }

    #[test]
    fn out_of_range_status_becomes_500() {
        assert_eq!(Problem::new(42).status, 500);
        assert_eq!(Problem::new(418).title, "I'm a teapot");
    }

    #[test]
    fn data_error_paths_become_json_pointers() {
        let (pointer, why) = data_error_pointer(
            "Failed to deserialize the JSON body into the target type: items[0].name: invalid type",
        );
        assert_eq!(pointer, "/items/0/name");
        assert_eq!(why, "invalid type");
    }
}
