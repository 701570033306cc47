//! The dashboard at `/ui`: a page, a script and a style sheet built into the
//! binary (`crates/wisp-controller/ui/`), so it needs no CDN, no Node.js and
//! no network. It signs in with an API key that the browser keeps in
//! `sessionStorage` and sends as `Authorization` on each API call, never as a
//! cookie, so another site has nothing to forge; it renders every name, log
//! line and result as text. Its files are public (they hold no data); what it
//! shows comes from the API, under the key's rights. docs/ui.md.

use http::{HeaderValue, Response, header};
use wisp_invoker::{Body, full_body};

use crate::routes::UiAsset;

const PAGE: &[u8] = include_bytes!("../../ui/index.html");
const SCRIPT: &[u8] = include_bytes!("../../ui/app.js");
const STYLE: &[u8] = include_bytes!("../../ui/style.css");

/// Only the dashboard's own files may load, run or be fetched: no inline
/// script or style, no other origin.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'";

/// One of the dashboard's files, with the headers that keep it to itself.
pub fn serve(asset: UiAsset) -> Response<Body> {
    let (body, kind) = match asset {
        UiAsset::Page => (PAGE, "text/html; charset=utf-8"),
        UiAsset::Script => (SCRIPT, "text/javascript; charset=utf-8"),
        UiAsset::Style => (STYLE, "text/css; charset=utf-8"),
    };
    let mut r = Response::new(full_body(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}
