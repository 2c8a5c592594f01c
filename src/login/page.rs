//! A page the AS showed the user agent, read without a browser: what kind of page it is (login,
//! consent, error, a `form_post` response) and what its forms would send.
//!
//! Pure: no I/O, no redactor. `scraper::Html` is not `Send`, so a `Page` lives inside one
//! synchronous stretch of code; everything it hands out is owned.

use scraper::{ElementRef, Html, Selector};

use crate::fapi::authorize::{self, Landing};
use crate::target::LoginStep;

/// What kind of page it is, judged in this order (the first that fits wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageKind {
    /// A form that posts the authorization response to a redirect URI (OAuth 2.0 Form Post
    /// Response Mode): `params` are its fields, `action` the redirect URI.
    FormPost {
        action: url::Url,
        params: Vec<(String, String)>,
    },
    /// Has a password field.
    Login,
    /// An error for the user: its title or main heading says so, or (when no form offers to
    /// approve) an alert or an OAuth error code is on the page. `message` is the most specific
    /// text found, for reasons and reports.
    Error {
        message: Option<String>,
    },
    /// No password field, and a form with a button to approve, allow, accept, continue and the like.
    Consent,
    Unknown,
}

impl PageKind {
    /// `a login page`, `an error page`, … for reasons.
    pub fn describe(&self) -> &'static str {
        match self {
            PageKind::FormPost { .. } => "a form_post response page",
            PageKind::Login => "a login page",
            PageKind::Error { .. } => "an error page",
            PageKind::Consent => "a consent page",
            PageKind::Unknown => "a page",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A `<form>` as the page declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// `action` resolved against the page URL (the page URL itself when absent or empty).
    pub action: url::Url,
    pub method: Method,
    /// `enctype="multipart/form-data"`, which `http-form` does not send.
    pub multipart: bool,
    /// What the form sends without a button: (name, value) in document order, hidden inputs
    /// included, unticked checkboxes and buttons left out.
    pub fields: Vec<(String, String)>,
    /// Names of the fields a person types into (text, password, e-mail, …, textarea, select).
    pub inputs: Vec<String>,
    /// Its submit buttons.
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Button {
    pub name: Option<String>,
    pub value: String,
    /// The text a person reads: the content of a `<button>`, the value of an `<input>`.
    pub label: String,
}

/// What submitting a form sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submission {
    pub method: Method,
    /// For GET, the action with the fields as its query.
    pub url: url::Url,
    /// The form data: for POST the body, for GET already in `url`.
    pub fields: Vec<(String, String)>,
}

/// A parsed page and the URL it came from.
pub struct Page {
    url: url::Url,
    html: Html,
    /// Why the page was not parsed (it reads as an empty page then).
    unread: Option<String>,
}

/// Pages are parsed up to this many bytes: login and consent pages are a few kilobytes, and the
/// parser's work grows with size times nesting depth.
pub const MAX_PAGE_BYTES: usize = 512 * 1024;

/// Pages nested deeper than this (estimated by counting tags) are not parsed: html5ever checks
/// the stack of open elements on every tag, so 20,000 nested `<div>`s from a hostile server cost
/// a minute of CPU, and no timeout interrupts a parse.
pub const MAX_NESTING: usize = 512;

/// Elements without content, and elements whose end tag pages usually omit (they never nest in
/// the tree the parser builds): neither deepens the estimate.
const NO_NESTING: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr", "p", "li", "dt", "dd", "option", "optgroup", "tr", "td", "th", "tbody",
    "thead", "tfoot", "colgroup", "rb", "rt", "rp",
];

/// Elements whose content is text, not markup.
const RAW_TEXT: &[&str] = &[
    "script",
    "style",
    "textarea",
    "title",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "noscript",
    "plaintext",
];

/// The deepest nesting of elements in `html`, estimated in one pass over the tags; `limit` stops
/// the count early.
fn nesting(html: &[u8], limit: usize) -> usize {
    let find = |from: usize, needle: &[u8]| {
        html.get(from..).and_then(|rest| {
            rest.windows(needle.len())
                .position(|w| w.eq_ignore_ascii_case(needle))
                .map(|p| from + p)
        })
    };
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while let Some(lt) = find(i, b"<") {
        let rest = &html[lt + 1..];
        if rest.starts_with(b"!--") {
            i = find(lt + 4, b"-->").map_or(html.len(), |e| e + 3);
            continue;
        }
        if rest.starts_with(b"/") {
            depth = depth.saturating_sub(1);
            i = lt + 2;
            continue;
        }
        let name_len = rest
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-')
            .count();
        if name_len == 0 || !rest[0].is_ascii_alphabetic() {
            i = lt + 1;
            continue;
        }
        let name = String::from_utf8_lossy(&rest[..name_len]).to_ascii_lowercase();
        let end = find(lt, b">").unwrap_or(html.len());
        let self_closing = end > 0 && html.get(end - 1) == Some(&b'/');
        i = end;
        if RAW_TEXT.contains(&name.as_str()) {
            let close = format!("</{name}");
            i = find(end, close.as_bytes()).unwrap_or(html.len());
        } else if !self_closing && !NO_NESTING.contains(&name.as_str()) {
            depth += 1;
            deepest = deepest.max(depth);
            if deepest > limit {
                break;
            }
        }
    }
    deepest
}

/// Words in a title or heading that mark a page as an error for the user.
const ERROR_WORDS: &[&str] = &[
    "error",
    "oops",
    "went wrong",
    "failed",
    "failure",
    "invalid",
    "denied",
    "forbidden",
    "unauthorized",
    "not found",
    "bad request",
    "expired",
    "sorry",
    "problem",
    "unable to",
    "cannot",
    "can't",
];

/// Error codes of RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6 and RFC 9126 an AS may print.
const OAUTH_ERRORS: &[&str] = &[
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "invalid_client",
    "invalid_grant",
    "invalid_request_uri",
    "invalid_request_object",
    "request_not_supported",
    "request_uri_not_supported",
    "registration_not_supported",
    "interaction_required",
    "login_required",
    "consent_required",
    "account_selection_required",
    "invalid_redirect_uri",
];

/// Words on a button that approve: English, since the default pages of the common servers are.
const APPROVE_WORDS: &[&str] = &[
    "approve",
    "allow",
    "accept",
    "consent",
    "authorize",
    "authorise",
    "continue",
    "grant",
    "agree",
    "confirm",
    "yes",
];

/// Input types a person types into; `fill` targets these (and textareas and selects).
const TYPED: &[&str] = &[
    "text",
    "password",
    "email",
    "tel",
    "number",
    "search",
    "url",
    "date",
    "month",
    "week",
    "time",
    "datetime-local",
    "color",
    "range",
];

fn sel(css: &str) -> Option<Selector> {
    Selector::parse(css).ok()
}

fn input_type(e: &ElementRef<'_>) -> String {
    e.attr("type").unwrap_or("text").trim().to_ascii_lowercase()
}

/// A field a person fills: a typed input, a textarea or a select.
fn is_fillable(e: &ElementRef<'_>) -> bool {
    match e.value().name() {
        "input" => TYPED.contains(&input_type(e).as_str()),
        "textarea" | "select" => true,
        _ => false,
    }
}

fn is_submit_button(e: &ElementRef<'_>) -> bool {
    match e.value().name() {
        "button" => matches!(
            e.attr("type")
                .map(|t| t.trim().to_ascii_lowercase())
                .as_deref(),
            None | Some("submit") | Some("")
        ),
        "input" => matches!(input_type(e).as_str(), "submit" | "image"),
        _ => false,
    }
}

fn collapse(text: impl Iterator<Item = impl AsRef<str>>) -> String {
    let joined: String = text
        .map(|t| t.as_ref().to_owned())
        .collect::<Vec<_>>()
        .join(" ");
    joined.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn button_label(e: &ElementRef<'_>) -> String {
    if e.value().name() == "button" {
        collapse(e.text())
    } else {
        e.attr("value").unwrap_or_default().to_owned()
    }
}

/// The text a person sees, without scripts and styles.
fn visible_text(e: ElementRef<'_>) -> String {
    let mut out = Vec::new();
    for node in e.descendants() {
        if let Some(t) = node.value().as_text() {
            let hidden = node.ancestors().any(|a| {
                a.value()
                    .as_element()
                    .is_some_and(|el| matches!(el.name(), "script" | "style" | "template"))
            });
            if !hidden {
                out.push(t.to_string());
            }
        }
    }
    collapse(out.iter())
}

fn has_error_word(text: &str) -> bool {
    let lower = text.to_lowercase();
    ERROR_WORDS.iter().any(|w| lower.contains(w))
}

fn shortened(text: &str) -> String {
    const MAX: usize = 200;
    if text.chars().count() <= MAX {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(MAX).collect::<String>())
    }
}

impl Page {
    /// Parses at most `MAX_PAGE_BYTES` of `body`. A page nested deeper than `MAX_NESTING` is not
    /// parsed: it reads as an empty page of kind `Unknown`, and `unread` says why.
    pub fn parse(body: &str, url: &url::Url) -> Page {
        let mut cut = body.len().min(MAX_PAGE_BYTES);
        while !body.is_char_boundary(cut) {
            cut -= 1;
        }
        let body = &body[..cut];
        let deepest = nesting(body.as_bytes(), MAX_NESTING);
        let (html, unread) = if deepest > MAX_NESTING {
            (
                Html::parse_document(""),
                Some(format!(
                    "not read: its elements nest more than {MAX_NESTING} deep"
                )),
            )
        } else {
            (Html::parse_document(body), None)
        };
        Page {
            url: url.clone(),
            html,
            unread,
        }
    }

    /// Why the page was not parsed, if it was not.
    pub fn unread(&self) -> Option<&str> {
        self.unread.as_deref()
    }

    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The `<title>`, whitespace collapsed.
    pub fn title(&self) -> Option<String> {
        let s = sel("title")?;
        let t = collapse(self.html.select(&s).next()?.text());
        (!t.is_empty()).then_some(t)
    }

    /// Whether `css` matches any element. A selector that does not parse matches nothing (the
    /// target loader rejects those before anything runs).
    pub fn matches(&self, css: &str) -> bool {
        sel(css).is_some_and(|s| self.html.select(&s).next().is_some())
    }

    /// Whether `css` matches a field a person fills (hidden inputs do not count).
    pub fn has_field(&self, css: &str) -> bool {
        sel(css).is_some_and(|s| self.html.select(&s).any(|e| is_fillable(&e)))
    }

    /// Whether `step` applies to this page: its `when` and `wait_for` selectors match; without
    /// either, every field it fills is on the page and so is the button it presses.
    pub fn applies(&self, step: &LoginStep) -> bool {
        if step.when.is_some() || step.wait_for.is_some() {
            return step.when.iter().all(|w| self.matches(w))
                && step.wait_for.iter().all(|w| self.matches(w));
        }
        step.fill.iter().all(|(css, _)| self.has_field(css))
            && step.submit.iter().all(|s| self.matches(s))
    }

    /// Names of the fields a person fills, over all forms, for messages.
    pub fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.forms().into_iter().flat_map(|f| f.inputs).collect();
        names.dedup();
        names
    }

    fn form_elements(&self) -> Vec<ElementRef<'_>> {
        sel("form")
            .map(|s| self.html.select(&s).collect())
            .unwrap_or_default()
    }

    /// The form an element belongs to: its `form` attribute names it, or it sits inside it.
    fn owner<'a>(e: &ElementRef<'a>, forms: &[ElementRef<'a>]) -> Option<ElementRef<'a>> {
        if let Some(id) = e.attr("form") {
            return forms.iter().find(|f| f.attr("id") == Some(id)).copied();
        }
        e.ancestors()
            .filter_map(ElementRef::wrap)
            .find(|a| a.value().name() == "form")
    }

    /// The form's controls, in document order.
    fn controls<'a>(
        &'a self,
        form: ElementRef<'a>,
        forms: &[ElementRef<'a>],
    ) -> Vec<ElementRef<'a>> {
        let Some(s) = sel("input, select, textarea, button") else {
            return Vec::new();
        };
        self.html
            .select(&s)
            .filter(|e| Self::owner(e, forms) == Some(form))
            .collect()
    }

    /// The base for relative URLs: `<base href>` if the page has one, else the page URL.
    fn base(&self) -> url::Url {
        sel("base[href]")
            .and_then(|s| self.html.select(&s).next())
            .and_then(|b| b.attr("href"))
            .and_then(|h| self.url.join(h.trim()).ok())
            .unwrap_or_else(|| self.url.clone())
    }

    fn resolve(&self, action: Option<&str>) -> url::Url {
        match action.map(str::trim) {
            Some(a) if !a.is_empty() => self.base().join(a).unwrap_or_else(|_| self.url.clone()),
            _ => self.url.clone(),
        }
    }

    /// The form data set (HTML §4.10.21.4, the parts a login form uses): `submitter` and
    /// `filled` (control, value) decide what the buttons and the typed fields send.
    fn form_data(
        &self,
        controls: &[ElementRef<'_>],
        submitter: Option<ElementRef<'_>>,
        filled: &[(ElementRef<'_>, String)],
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in controls {
            let name = c.attr("name").unwrap_or_default();
            if c.attr("disabled").is_some() {
                continue;
            }
            if let Some((_, v)) = filled.iter().find(|(f, _)| f == c) {
                if !name.is_empty() {
                    out.push((name.to_owned(), v.clone()));
                }
                continue;
            }
            let is_submitter = submitter == Some(*c);
            let value = || c.attr("value").unwrap_or_default().to_owned();
            let kind = input_type(c);
            match (c.value().name(), kind.as_str()) {
                // A button sends its name and value only when it is the one pressed.
                ("button", _) | ("input", "submit") if is_submitter && !name.is_empty() => {
                    out.push((name.to_owned(), value()));
                }
                ("input", "image") if is_submitter => {
                    let prefix = if name.is_empty() {
                        String::new()
                    } else {
                        format!("{name}.")
                    };
                    out.push((format!("{prefix}x"), "0".into()));
                    out.push((format!("{prefix}y"), "0".into()));
                }
                ("input", "checkbox" | "radio")
                    if c.attr("checked").is_some() && !name.is_empty() =>
                {
                    out.push((name.to_owned(), c.attr("value").unwrap_or("on").to_owned()));
                }
                ("button", _)
                | (
                    "input",
                    "submit" | "image" | "button" | "reset" | "file" | "checkbox" | "radio",
                ) => {}
                ("input", _) if !name.is_empty() => out.push((name.to_owned(), value())),
                ("select", _) if !name.is_empty() => {
                    let options: Vec<ElementRef<'_>> = c
                        .descendent_elements()
                        .filter(|o| o.value().name() == "option")
                        .collect();
                    let value_of = |o: &ElementRef<'_>| {
                        o.attr("value")
                            .map(str::to_owned)
                            .unwrap_or_else(|| collapse(o.text()))
                    };
                    let selected: Vec<&ElementRef<'_>> = options
                        .iter()
                        .filter(|o| o.attr("selected").is_some())
                        .collect();
                    if !selected.is_empty() {
                        out.extend(selected.iter().map(|o| (name.to_owned(), value_of(o))));
                    } else if c.attr("multiple").is_none()
                        && let Some(first) = options.iter().find(|o| o.attr("disabled").is_none())
                    {
                        out.push((name.to_owned(), value_of(first)));
                    }
                }
                ("textarea", _) if !name.is_empty() => {
                    out.push((name.to_owned(), c.text().collect::<String>()));
                }
                _ => {}
            }
        }
        out
    }

    /// Every form of the page.
    pub fn forms(&self) -> Vec<Form> {
        let forms = self.form_elements();
        forms
            .iter()
            .map(|f| {
                let controls = self.controls(*f, &forms);
                Form {
                    action: self.resolve(f.attr("action")),
                    method: method_of(f.attr("method")),
                    multipart: is_multipart(f.attr("enctype")),
                    fields: self.form_data(&controls, None, &[]),
                    inputs: controls
                        .iter()
                        .filter(|c| is_fillable(c))
                        .filter_map(|c| c.attr("name").or(c.attr("id")).map(str::to_owned))
                        .collect(),
                    buttons: controls
                        .iter()
                        .filter(|c| is_submit_button(c))
                        .map(|c| Button {
                            name: c.attr("name").map(str::to_owned),
                            value: c.attr("value").unwrap_or_default().to_owned(),
                            label: button_label(c),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// What kind of page this is. `redirect_uris` are the client endpoints: a form posting there
    /// is the authorization response.
    pub fn kind(&self, redirect_uris: &[url::Url]) -> PageKind {
        let forms = self.forms();
        for f in &forms {
            if f.method == Method::Post
                && let Landing::Registered { .. } =
                    authorize::classify(&f.action, redirect_uris, &[])
            {
                return PageKind::FormPost {
                    action: f.action.clone(),
                    params: f.fields.clone(),
                };
            }
        }
        let password = sel("input")
            .map(|s| self.html.select(&s).any(|e| input_type(&e) == "password"))
            .unwrap_or(false);
        if password {
            return PageKind::Login;
        }
        let headings = self.headings();
        if headings.iter().any(|h| has_error_word(h)) {
            return PageKind::Error {
                message: self.alert().or_else(|| headings.last().cloned()),
            };
        }
        let approves = forms.iter().flat_map(|f| &f.buttons).any(|b| {
            let text = format!(
                "{} {} {}",
                b.label,
                b.value,
                b.name.as_deref().unwrap_or_default()
            )
            .to_lowercase();
            APPROVE_WORDS.iter().any(|w| text.contains(w))
        });
        if approves {
            return PageKind::Consent;
        }
        if let Some(message) = self.alert() {
            return PageKind::Error {
                message: Some(message),
            };
        }
        let text = self.text();
        if let Some(code) = OAUTH_ERRORS.iter().find(|c| text.contains(*c)) {
            return PageKind::Error {
                message: Some((*code).to_owned()),
            };
        }
        PageKind::Unknown
    }

    /// The title and the h1/h2 headings.
    fn headings(&self) -> Vec<String> {
        let mut out: Vec<String> = self.title().into_iter().collect();
        if let Some(s) = sel("h1, h2") {
            out.extend(
                self.html
                    .select(&s)
                    .map(visible_text)
                    .filter(|t| !t.is_empty()),
            );
        }
        out
    }

    /// The text of the first alert or error element (`role=alert`, an id or class with `error`
    /// or `alert`), which is where pages put the reason ("Invalid username or password").
    pub fn alert(&self) -> Option<String> {
        let s = sel(
            r#"[role=alert], [id*=error i], [class*=error i], [id*=alert i], [class*=alert i]"#,
        )?;
        self.html
            .select(&s)
            .map(visible_text)
            .find(|t| !t.is_empty())
            .map(|t| shortened(&t))
    }

    /// All text a person sees.
    pub fn text(&self) -> String {
        visible_text(self.html.root_element())
    }

    /// One line about the page for reasons: its title and the fields and buttons it offers.
    pub fn summary(&self) -> String {
        if let Some(why) = &self.unread {
            return why.clone();
        }
        let mut parts = Vec::new();
        if let Some(t) = self.title() {
            parts.push(format!("title “{}”", shortened(&t)));
        }
        let fields = self.field_names();
        if !fields.is_empty() {
            parts.push(format!("fields {}", fields.join(", ")));
        }
        let buttons: Vec<String> = self
            .forms()
            .iter()
            .flat_map(|f| &f.buttons)
            .map(|b| {
                if b.label.is_empty() {
                    b.name.clone().unwrap_or_else(|| "(unnamed)".into())
                } else {
                    b.label.clone()
                }
            })
            .collect();
        if !buttons.is_empty() {
            parts.push(format!("buttons {}", buttons.join(", ")));
        }
        if parts.is_empty() {
            "no title, fields or buttons".into()
        } else {
            parts.join("; ")
        }
    }

    /// What pressing a button after filling fields sends: `fill` is (CSS selector, value);
    /// `submit` the selector of the button (or of a form, submitted as by pressing Enter).
    /// Without `submit`, the form of the first filled field is submitted, or the page's only
    /// form, the way pressing Enter in it would: with its first submit button.
    pub fn submission(
        &self,
        fill: &[(String, String)],
        submit: Option<&str>,
    ) -> Result<Submission, String> {
        let forms = self.form_elements();
        let mut filled = Vec::new();
        for (css, value) in fill {
            let field = sel(css)
                .and_then(|s| self.html.select(&s).find(is_fillable))
                .ok_or_else(|| format!("`{css}` matches no field to fill on the page"))?;
            filled.push((field, value.clone()));
        }
        // (the form, the button pressed)
        let (form, submitter) = match submit {
            Some(css) => {
                let el = sel(css)
                    .and_then(|s| self.html.select(&s).next())
                    .ok_or_else(|| format!("`{css}` (submit) matches nothing on the page"))?;
                if el.value().name() == "form" {
                    (el, None)
                } else if is_submit_button(&el) {
                    let form = Self::owner(&el, &forms)
                        .ok_or_else(|| format!("the button `{css}` belongs to no form"))?;
                    (form, Some(el))
                } else {
                    return Err(format!(
                        "`{css}` (submit) is a <{}>, not a submit button or a form",
                        el.value().name()
                    ));
                }
            }
            None => {
                let form = match filled.first() {
                    Some((field, _)) => Self::owner(field, &forms)
                        .ok_or_else(|| format!("the field `{}` belongs to no form", fill[0].0))?,
                    None => match forms.as_slice() {
                        [only] => *only,
                        [] => return Err("the page has no form".into()),
                        many => {
                            return Err(format!(
                                "the page has {} forms; name the button to press with `submit`",
                                many.len()
                            ));
                        }
                    },
                };
                (form, None)
            }
        };
        let controls = self.controls(form, &forms);
        for ((field, _), (css, _)) in filled.iter().zip(fill) {
            if !controls.contains(field) {
                return Err(format!(
                    "the field `{css}` is not in the form that is submitted"
                ));
            }
        }
        // Pressing Enter clicks the form's first submit button, if it can be clicked.
        let submitter = submitter.or_else(|| {
            controls
                .iter()
                .find(|c| is_submit_button(c))
                .filter(|c| c.attr("disabled").is_none())
                .copied()
        });
        let from_button = |name: &str| submitter.and_then(|s| s.attr(name));
        if is_multipart(from_button("formenctype").or(form.attr("enctype"))) {
            return Err("the form sends multipart/form-data, which http-form does not".into());
        }
        let action = self.resolve(from_button("formaction").or(form.attr("action")));
        let method = method_of(from_button("formmethod").or(form.attr("method")));
        let fields = self.form_data(&controls, submitter, &filled);
        let url = match method {
            Method::Post => action,
            Method::Get => {
                let mut u = action;
                u.set_query(None);
                if !fields.is_empty() {
                    u.query_pairs_mut().extend_pairs(&fields);
                }
                u
            }
        };
        Ok(Submission {
            method,
            url,
            fields,
        })
    }
}

fn method_of(m: Option<&str>) -> Method {
    match m.map(|m| m.trim().to_ascii_lowercase()).as_deref() {
        Some("post") => Method::Post,
        _ => Method::Get,
    }
}

fn is_multipart(enctype: Option<&str>) -> bool {
    enctype.is_some_and(|e| e.trim().eq_ignore_ascii_case("multipart/form-data"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYCLOAK_LOGIN: &str = include_str!("testdata/keycloak-login.html");
    const KEYCLOAK_CONSENT: &str = include_str!("testdata/keycloak-consent.html");
    const KEYCLOAK_ERROR: &str = include_str!("testdata/keycloak-error.html");
    const OP_LOGIN: &str = include_str!("testdata/oidc-provider-login.html");
    const OP_CONSENT: &str = include_str!("testdata/oidc-provider-consent.html");
    const OP_ERROR: &str = include_str!("testdata/oidc-provider-error.html");
    const OP_FORM_POST: &str = include_str!("testdata/oidc-provider-form-post.html");

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    fn page(html: &str) -> Page {
        Page::parse(html, &url("https://as.example/login/page?x=1"))
    }

    fn keycloak_login(alert: bool) -> Page {
        let (alert_html, input_error, invalid, user) = if alert {
            (
                r#"<div class="pf-v5-c-alert pf-m-inline pf-m-danger" aria-live="polite"><h4 class="pf-v5-c-alert__title kc-feedback-text">Invalid username or password.</h4></div>"#,
                r#"<span id="input-error" class="pf-v5-c-form__helper-text pf-m-error kc-feedback-text" aria-live="polite">Invalid username or password.</span>"#,
                "true",
                "alice",
            )
        } else {
            ("", "", "", "")
        };
        let html = KEYCLOAK_LOGIN
            .replace("%ALERT%", alert_html)
            .replace("%INPUT_ERROR%", input_error)
            .replace("%INVALID%", invalid)
            .replace("%USERNAME%", user);
        Page::parse(
            &html,
            &url(
                "https://kc.example/realms/bank/protocol/openid-connect/auth?client_id=fapi-client&request_uri=urn:x",
            ),
        )
    }

    fn fill(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn step(fill_: &[(&str, &str)], submit: Option<&str>, when: Option<&str>) -> LoginStep {
        LoginStep {
            name: "s".into(),
            when: when.map(str::to_owned),
            wait_for: None,
            fill: fill(fill_),
            submit: submit.map(str::to_owned),
        }
    }

    #[test]
    fn keycloak_login_page() {
        let p = keycloak_login(false);
        assert_eq!(p.kind(&[]), PageKind::Login);
        assert_eq!(p.title().as_deref(), Some("Sign in to bank"));
        assert_eq!(p.alert(), None);
        let forms = p.forms();
        assert_eq!(forms.len(), 1);
        let f = &forms[0];
        assert_eq!(f.method, Method::Post);
        assert_eq!(
            f.action.as_str(),
            "https://kc.example/realms/bank/login-actions/authenticate?session_code=Q3sx&execution=8d1c&client_id=fapi-client&tab_id=Tb9&client_data=eyJydSI6Imh0dHBzOi8vY2xpZW50LmV4YW1wbGUvY2IifQ"
        );
        assert_eq!(f.inputs, ["username", "password"]);
        // The show-password toggle is type=button, not a submit button; the unticked
        // "remember me" box sends nothing.
        assert_eq!(
            f.buttons,
            [Button {
                name: Some("login".into()),
                value: String::new(),
                label: "Sign In".into()
            }]
        );
        assert_eq!(
            f.fields,
            fill(&[("username", ""), ("password", ""), ("credentialId", "")])
        );

        let s = step(
            &[("#username", "alice"), ("#password", "pw 1&2")],
            Some("#kc-login"),
            None,
        );
        assert!(p.applies(&s));
        let sub = p.submission(&s.fill, s.submit.as_deref()).unwrap();
        assert_eq!(sub.method, Method::Post);
        assert_eq!(sub.url, f.action);
        assert_eq!(
            sub.fields,
            fill(&[
                ("username", "alice"),
                ("password", "pw 1&2"),
                ("credentialId", ""),
                ("login", "")
            ])
        );
        // Without `submit`, the field's form is submitted as by Enter: with its first button.
        assert_eq!(p.submission(&s.fill, None).unwrap(), sub);
    }

    #[test]
    fn keycloak_login_page_with_an_error_is_still_a_login_page() {
        let p = keycloak_login(true);
        assert_eq!(p.kind(&[]), PageKind::Login);
        assert_eq!(p.alert().as_deref(), Some("Invalid username or password."));
    }

    #[test]
    fn keycloak_consent_page() {
        let p = Page::parse(
            KEYCLOAK_CONSENT,
            &url("https://kc.example/realms/bank/login-actions/authenticate?session_code=Q3sx"),
        );
        assert_eq!(p.kind(&[]), PageKind::Consent);
        // The login step's fields are not here, so the login step does not apply.
        let login = step(
            &[("#username", "a"), ("#password", "b")],
            Some("#kc-login"),
            None,
        );
        assert!(!p.applies(&login));
        let consent = step(&[], Some("#kc-login"), None);
        assert!(p.applies(&consent));
        let sub = p.submission(&[], Some("#kc-login")).unwrap();
        assert_eq!(
            sub.fields,
            fill(&[("code", "Zk2pUo9-session-code"), ("accept", "Yes")])
        );
        assert_eq!(
            sub.url.as_str(),
            "https://kc.example/realms/bank/login-actions/consent?session_code=Zk2p&execution=&client_id=fapi-client&tab_id=Tb9"
        );
        let deny = p.submission(&[], Some("#kc-cancel")).unwrap();
        assert_eq!(deny.fields[1], ("cancel".into(), "No".into()));
        // `input[name=accept]` names the same button by another selector.
        assert_eq!(p.submission(&[], Some("input[name=accept]")).unwrap(), sub);
    }

    #[test]
    fn keycloak_error_page() {
        let p = page(KEYCLOAK_ERROR);
        assert_eq!(
            p.kind(&[]),
            PageKind::Error {
                message: Some("Invalid parameter: redirect_uri".into())
            }
        );
    }

    #[test]
    fn oidc_provider_login_page() {
        let p = page(OP_LOGIN);
        assert_eq!(p.kind(&[]), PageKind::Login);
        let s = step(
            &[
                (r#"[name="login"]"#, "alice"),
                (r#"[name="password"]"#, "pw"),
            ],
            None,
            None,
        );
        assert!(p.applies(&s));
        let sub = p.submission(&s.fill, None).unwrap();
        assert_eq!(
            sub.url.as_str(),
            "https://127.0.0.1:9443/interaction/Xk3_interaction_uid"
        );
        // The button has no name, so it adds nothing.
        assert_eq!(
            sub.fields,
            fill(&[("prompt", "login"), ("login", "alice"), ("password", "pw")])
        );
        assert_eq!(
            p.summary(),
            "title “Sign-in”; fields login, password; buttons Sign-in"
        );
    }

    #[test]
    fn oidc_provider_consent_page() {
        let p = page(OP_CONSENT);
        assert_eq!(p.kind(&[]), PageKind::Consent);
        let login = step(&[(r#"[name="login"]"#, "alice")], None, None);
        assert!(!p.applies(&login), "the consent page has no login field");
        let sub = p.submission(&[], None).unwrap();
        assert_eq!(sub.fields, fill(&[("prompt", "consent")]));
        assert!(p.applies(&step(&[], Some("button.login-submit"), None)));
        assert!(p.applies(&step(&[], None, Some(r#"input[value=consent]"#))));
    }

    #[test]
    fn oidc_provider_error_page() {
        match page(OP_ERROR).kind(&[]) {
            PageKind::Error { message } => {
                assert_eq!(message.as_deref(), Some("oops! something went wrong"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn form_post_page_to_a_redirect_uri() {
        let cb = url("https://client.example/pkj-dpop-1/cb");
        let p = page(OP_FORM_POST);
        assert_eq!(
            p.kind(std::slice::from_ref(&cb)),
            PageKind::FormPost {
                action: cb,
                params: fill(&[
                    ("code", "Qm9vX2F1dGhvcml6YXRpb25fY29kZQ"),
                    ("state", "st&1"),
                    ("iss", "https://127.0.0.1:9443")
                ])
            }
        );
        // Posting anywhere else is not a response.
        let other = url("https://client.example/other/cb");
        assert!(!matches!(p.kind(&[other]), PageKind::FormPost { .. }));
    }

    #[test]
    fn other_pages() {
        assert_eq!(
            page("<html><body><p>Welcome</p></body></html>").kind(&[]),
            PageKind::Unknown
        );
        // An OAuth error code in the text, with no heading, is an error page.
        assert_eq!(
            page("<html><body>invalid_request: use PAR</body></html>").kind(&[]),
            PageKind::Error {
                message: Some("invalid_request".into())
            }
        );
        // A script that mentions an error is not the page saying so.
        assert_eq!(
            page("<html><head><script>var e = 'invalid_request error';</script></head><body>Hi</body></html>").kind(&[]),
            PageKind::Unknown
        );
        // A heading that says "failed" wins over a Continue button.
        let p = page(
            r#"<h1>Authorization failed</h1><form action="/back"><button>Continue</button></form>"#,
        );
        assert!(matches!(p.kind(&[]), PageKind::Error { .. }));
        // A password field makes a login page, whatever the heading says.
        let p = page(r#"<title>Login failed</title><form><input type=password name=pw></form>"#);
        assert_eq!(p.kind(&[]), PageKind::Login);
    }

    #[test]
    fn form_data_follows_html() {
        let p = page(
            r#"<base href="https://as.example/base/">
            <form id="f" method="get" action="next?drop=me">
              <input name="t" value="v">
              <input name="off" value="x" disabled>
              <input type="checkbox" name="c1" checked>
              <input type="checkbox" name="c2" value="no">
              <input type="radio" name="r" value="a">
              <input type="radio" name="r" value="b" checked>
              <select name="s"><option value="1">one</option><option selected>two</option></select>
              <select name="s2"><option disabled>x</option><option value="y">y</option></select>
              <textarea name="ta">text here</textarea>
              <input type="file" name="file">
              <input type="submit" name="go" value="Go">
            </form>
            <input form="f" name="outside" value="o">"#,
        );
        let sub = p.submission(&fill(&[("[name=t]", "typed")]), None).unwrap();
        assert_eq!(sub.method, Method::Get);
        assert_eq!(
            sub.fields,
            fill(&[
                ("t", "typed"),
                ("c1", "on"),
                ("r", "b"),
                ("s", "two"),
                ("s2", "y"),
                ("ta", "text here"),
                ("go", "Go"),
                ("outside", "o"),
            ])
        );
        // GET replaces the action's query with the form data; `<base>` resolves the action.
        assert_eq!(
            sub.url.as_str(),
            "https://as.example/base/next?t=typed&c1=on&r=b&s=two&s2=y&ta=text+here&go=Go&outside=o"
        );
    }

    #[test]
    fn actions_resolve_against_the_page() {
        let p = page(
            r#"<form method=post><input name=a></form><form action="../x" method=POST></form>"#,
        );
        let forms = p.forms();
        assert_eq!(
            forms[0].action.as_str(),
            "https://as.example/login/page?x=1"
        );
        assert_eq!(forms[1].action.as_str(), "https://as.example/x");
        assert_eq!(forms[1].method, Method::Post);
    }

    #[test]
    fn the_pressed_button_decides_action_and_method() {
        let p = page(
            r#"<form action="/a" method="post"><input name=u>
               <button name=b value=1>Save</button>
               <button name=b value=2 formaction="/other" formmethod="get">Other</button></form>"#,
        );
        let sub = p.submission(&[], Some("button[value='2']")).unwrap();
        assert_eq!(sub.method, Method::Get);
        assert_eq!(sub.url.as_str(), "https://as.example/other?u=&b=2");
        // A `<form>` as `submit` presses Enter in it: the first button goes along.
        let sub = p.submission(&[], Some("form")).unwrap();
        assert_eq!(sub.fields, fill(&[("u", ""), ("b", "1")]));
    }

    #[test]
    fn what_cannot_be_submitted_says_why() {
        let two = page("<form><input name=a></form><form><input name=b></form>");
        assert!(two.submission(&[], None).unwrap_err().contains("2 forms"));
        assert!(
            two.submission(&fill(&[("[name=a]", "1"), ("[name=b]", "2")]), None)
                .unwrap_err()
                .contains("`[name=b]` is not in the form")
        );
        assert!(
            two.submission(&fill(&[("#nope", "1")]), None)
                .unwrap_err()
                .contains("`#nope` matches no field")
        );
        assert!(
            two.submission(&[], Some("input"))
                .unwrap_err()
                .contains("not a submit button")
        );
        let none = page("<p>no form</p>");
        assert!(none.submission(&[], None).unwrap_err().contains("no form"));
        let multipart =
            page(r#"<form method=post enctype="multipart/form-data"><input name=a></form>"#);
        assert!(
            multipart
                .submission(&[], None)
                .unwrap_err()
                .contains("multipart")
        );
        // A hidden input is not a field to fill.
        let hidden = page(r#"<form><input type=hidden name=h value=1></form>"#);
        assert!(!hidden.has_field("[name=h]"));
        assert!(
            hidden
                .submission(&fill(&[("[name=h]", "2")]), None)
                .is_err()
        );
    }

    #[test]
    fn a_deeply_nested_page_is_not_parsed() {
        let deep = "<div>".repeat(20_000) + "<form><input type=password name=p></form>";
        let started = std::time::Instant::now();
        let p = page(&deep);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        assert_eq!(p.kind(&[]), PageKind::Unknown);
        assert_eq!(
            p.summary(),
            format!("not read: its elements nest more than {MAX_NESTING} deep")
        );
        // Real pages are far from the limit, however long: the estimate ignores void elements,
        // end tags a page leaves out, comments and script text.
        assert!(nesting(KEYCLOAK_LOGIN.as_bytes(), MAX_NESTING) < 20);
        assert!(nesting(OP_CONSENT.as_bytes(), MAX_NESTING) < 20);
        let sloppy = "<ul>".to_owned()
            + &"<li><p>item<br><img src=x><input name=a>".repeat(5000)
            + "</ul><script>if (a < b) { document.write('<div><div><div>') }</script><!-- <div> -->";
        assert_eq!(nesting(sloppy.as_bytes(), MAX_NESTING), 1);
        assert_eq!(page(&sloppy).unread(), None);
    }

    #[test]
    fn when_and_wait_for_decide_over_the_fields() {
        let p = page(OP_LOGIN);
        // `when` matches, though the step fills a field the page lacks: the step applies, and
        // its submission then says which field is missing.
        let s = step(&[("#otp", "1")], None, Some("input[name=login]"));
        assert!(p.applies(&s));
        assert!(p.submission(&s.fill, None).is_err());
        let s = LoginStep {
            wait_for: Some("#never".into()),
            ..step(&[], None, Some("form"))
        };
        assert!(!p.applies(&s));
        // A step that fills nothing and presses nothing applies anywhere.
        assert!(p.applies(&step(&[], None, None)));
    }
}
