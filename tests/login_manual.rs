//! `login: mode: manual` with a scripted person, against the reference target: the test reads
//! the printed authorization URL from the harness's stderr, lets the reference AS approve it
//! (it approves without a login page), and hands the redirect back the two ways a person would:
//! through the harness's listener, or pasted at the prompt. A closed stdin ends the logins at
//! once. Every run is checked for secrets in its console output and reports.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fapi_harness::reference::{ReferenceOptions, ReferenceServer};

mod support;
use support::free_port;

/// Two flow items in one variant: two logins.
const ITEMS: [&str; 2] = ["FAPI2-SP-5.3.2.2-2", "RFC9207-2-1"];
const COOKIE: &str = "as-session-cookie-0f1e2d3c4b5a";
const PASSWORD: &str = "correct-horse-battery-staple-77";

struct Reference {
    runtime: tokio::runtime::Runtime,
    server: ReferenceServer,
    dir: tempfile::TempDir,
}

impl Reference {
    fn start(redirect_port: Option<u16>) -> Reference {
        let (runtime, server) = support::start_reference(ReferenceOptions {
            redirect_port,
            ..Default::default()
        });
        Reference {
            runtime,
            server,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The reference's own target file, with `login` replaced by `login_yaml`.
    fn target(&self, login_yaml: &str) -> PathBuf {
        let path = self.server.write_target(self.dir.path()).unwrap();
        let yaml = std::fs::read_to_string(&path).unwrap();
        assert!(yaml.contains("login:\n  mode: none\n"));
        let yaml = yaml.replace("login:\n  mode: none\n", login_yaml)
            + &format!("secrets: [\"{PASSWORD}\"]\n");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// What the person's browser does at the AS: the reference approves at once and answers
    /// 303 to the redirect URI, which is returned.
    fn approve(&self, authorization_url: &str) -> String {
        let ca = reqwest::Certificate::from_pem(self.server.ca_pem().as_bytes()).unwrap();
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .tls_certs_only([ca])
            .build()
            .unwrap();
        self.runtime.block_on(async {
            let r = client.get(authorization_url).send().await.unwrap();
            assert_eq!(r.status(), 303, "the reference approves with a 303");
            r.headers()["location"].to_str().unwrap().to_owned()
        })
    }
}

fn spawn(target: &Path, out: &Path, stdin: Stdio) -> Child {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("fapi-harness"));
    cmd.args(["run", "--plan", "fapi2-security-profile", "--target"])
        .arg(target)
        .arg("--out")
        .arg(out)
        .args([
            "--variant",
            "client_auth=private_key_jwt",
            "--variant",
            "sender_constraint=dpop",
            "--variant",
            "openid=openid",
        ]);
    for id in ITEMS {
        cmd.args(["--only", id]);
    }
    cmd.env("NO_COLOR", "1")
        .stdin(stdin)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

/// The child's stderr, line by line, as it comes.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// The authorization URL of a login prompt line.
fn authorization_url(line: &str) -> Option<String> {
    let t = line.trim();
    (t.starts_with("https://") && t.contains("request_uri=")).then(|| t.to_owned())
}

/// Plays the person for every prompt until the harness exits; returns (stderr, logins, codes).
fn play(
    child: &mut Child,
    mut person: impl FnMut(&str, &mut Child) -> String,
) -> (String, usize, Vec<String>) {
    let lines = lines_of(child);
    let mut stderr = String::new();
    let mut logins = 0;
    let mut codes = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Ok(line) = lines.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        stderr.push_str(&line);
        stderr.push('\n');
        if let Some(url) = authorization_url(&line) {
            logins += 1;
            let location = person(&url, child);
            codes.extend(
                url::Url::parse(&location)
                    .unwrap()
                    .query_pairs()
                    .filter(|(k, _)| k == "code")
                    .map(|(_, v)| v.into_owned()),
            );
        }
    }
    let status = wait(child, Duration::from_secs(30));
    stderr.push_str(&format!("(exit {status:?})\n"));
    (stderr, logins, codes)
}

fn wait(child: &mut Child, limit: Duration) -> Option<i32> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the harness did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn report(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap()
}

fn outcome<'a>(report: &'a serde_json::Value, id: &str) -> (&'a str, String) {
    let r = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["id"] == id)
        .unwrap_or_else(|| panic!("{id} ran"));
    (r["outcome"].as_str().unwrap(), r.to_string())
}

/// No key, cookie, password or whole code in the console output or any report.
fn assert_no_secret(dir: &Path, out: &Path, stderr: &str, codes: &[String]) {
    let mut secrets: Vec<String> = vec![COOKIE.into(), PASSWORD.into()];
    secrets.extend(codes.iter().cloned());
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            let pem = std::fs::read_to_string(&path).unwrap();
            secrets.extend(
                pem.lines()
                    .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                    .map(str::to_owned),
            );
        }
    }
    let mut texts = vec![("stderr".to_owned(), stderr.to_owned())];
    for f in ["report.json", "report.html", "junit.xml"] {
        texts.push((f.into(), std::fs::read_to_string(out.join(f)).unwrap()));
    }
    for (name, text) in &texts {
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "{name} contains a secret: {s}");
        }
    }
}

fn assert_captured(report: &serde_json::Value, stderr: &str, how: &str) {
    for id in ITEMS {
        let (o, json) = outcome(report, id);
        assert_eq!(o, "PASS", "{id}: {json}\n{stderr}");
        assert!(
            json.contains(&format!("manual login: redirect captured ({how})")),
            "{id} has the captured redirect as evidence: {json}"
        );
        assert!(json.contains("manual login: authorization URL given to the person"));
    }
    assert!(stderr.contains("manual login 1 of at most 2"), "{stderr}");
    assert!(stderr.contains("manual login 2 of at most 2"), "{stderr}");
}

#[test]
fn the_listener_captures_the_redirect() {
    let port = free_port();
    let reference = Reference::start(Some(port));
    // A certificate the test's "browser" trusts, given to the listener by the target.
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let dir = reference.dir.path();
    std::fs::write(dir.join("listener.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("listener.key"), key.serialize_pem()).unwrap();
    let target = reference.target(
        "login:\n  mode: manual\n  timeout_secs: 60\n  manual:\n    listener_cert: \"${file:listener.crt}\"\n    listener_key: \"${file:listener.key}\"\n",
    );
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tls_certs_only([reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap()])
        .build()
        .unwrap();
    let out = dir.join("out");
    let mut child = spawn(&target, &out, Stdio::null());
    let (stderr, logins, codes) = play(&mut child, |url, _| {
        let location = reference.approve(url);
        assert!(location.starts_with(&format!("https://127.0.0.1:{port}/cb/")));
        // The browser brings along what it holds for 127.0.0.1: a cookie, and whatever else.
        let page = reference.runtime.block_on(async {
            let r = browser
                .get(&location)
                .header("cookie", format!("session={COOKIE}"))
                .header("x-login-hint", PASSWORD)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        });
        assert!(page.contains("close this tab"), "{page}");
        location
    });
    assert_eq!(logins, 2, "{stderr}");
    assert!(stderr.contains("(exit Some(0))"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "listens for the redirect at https://127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    let report = report(&out);
    assert_captured(&report, &stderr, "listener");
    assert_no_secret(dir, &out, &stderr, &codes);
}

#[test]
fn the_person_pastes_the_final_address() {
    let reference = Reference::start(None);
    let target = reference
        .target("login:\n  mode: manual\n  timeout_secs: 60\n  manual:\n    listen: false\n");
    let out = reference.dir.path().join("out");
    let mut child = spawn(&target, &out, Stdio::piped());
    let (stderr, logins, codes) = play(&mut child, |url, child| {
        let location = reference.approve(url);
        let stdin = child.stdin.as_mut().unwrap();
        // A slip first: the prompt asks again.
        writeln!(stdin, "hello").unwrap();
        writeln!(stdin, "{location}").unwrap();
        stdin.flush().unwrap();
        location
    });
    assert_eq!(logins, 2, "{stderr}");
    assert!(stderr.contains("(exit Some(0))"), "{stderr}");
    assert!(stderr.contains("That is not a URL"), "{stderr}");
    assert!(!stderr.contains("listens for the redirect"), "{stderr}");
    let report = report(&out);
    assert_captured(&report, &stderr, "pasted at the prompt");
    assert_no_secret(reference.dir.path(), &out, &stderr, &codes);
}

#[test]
fn a_closed_stdin_ends_every_login_at_once() {
    let reference = Reference::start(None);
    // A long login timeout: the run must not wait for it, once per login or at all.
    let target = reference
        .target("login:\n  mode: manual\n  timeout_secs: 600\n  manual:\n    listen: false\n");
    let out = reference.dir.path().join("out");
    let began = Instant::now();
    let mut child = spawn(&target, &out, Stdio::null());
    // The first prompt may come before the harness has read the end of input; it ends as soon
    // as it has. Every later login knows it at once and asks nobody.
    let (stderr, logins, codes) = play(&mut child, |url, _| url.to_owned());
    assert!(began.elapsed() < Duration::from_secs(60), "{stderr}");
    assert!(logins <= 1, "{stderr}");
    assert!(codes.is_empty());
    assert!(stderr.contains("(exit Some(1))"), "{stderr}");
    let report = report(&out);
    for id in ITEMS {
        let (o, json) = outcome(&report, id);
        assert_eq!(o, "ERROR", "{id}: {json}");
        assert!(
            json.contains("stdin") && json.contains("(end of input)"),
            "{id}: {json}"
        );
    }
    assert_no_secret(reference.dir.path(), &out, &stderr, &codes);
}
