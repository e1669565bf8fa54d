//! A real SCIM 2.0 service provider for tests: `Scim2Server::start()` runs the PyPI
//! `scim2-server` (in-memory, RFC 7643 User and Group) on a free loopback port with a
//! bearer token; dropping it stops the server.
//!
//! Self-contained (std and `tempfile` only), so other crates' tests can include it:
//! `#[path = "../../writ-connect/tests/peers/scim.rs"] mod scim_peer;`
//!
//! The helpers (`create_user`, `create_group`, `members`, `add_member`) talk plain
//! HTTP/1.0 over a `TcpStream` — the server is a single-threaded WSGI server that
//! closes every connection — so what they see does not go through any code under test.
//!
//! The executable: `$WRIT_SCIM2_SERVER`, else the venv `./scripts/test` installs
//! (`/root/.cache/writ-peers-venv/bin/scim2-server`), else `scim2-server` on `PATH`.

#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const VENV_BIN: &str = "/root/.cache/writ-peers-venv/bin/scim2-server";
const MISSING: &str = "scim2-server not found: run ./scripts/test, which installs it";

/// A running scim2-server. Stopped on drop.
#[derive(Debug)]
pub struct Scim2Server {
    /// `http://127.0.0.1:PORT/v2`, the SCIM base URL.
    pub base_url: String,
    /// The bearer token the server accepts.
    pub token: String,
    pub port: u16,
    program: PathBuf,
    log: tempfile::NamedTempFile,
    child: Option<Child>,
}

impl Scim2Server {
    /// Start a fresh, empty server; panics when scim2-server is not installed (tests
    /// must not silently skip).
    pub fn start() -> Scim2Server {
        let program = find_program();
        let token = format!("scim-test-token-{}-{}", std::process::id(), free_port());
        // The free port may be taken between the probe and the bind: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = Scim2Server {
                base_url: format!("http://127.0.0.1:{port}/v2"),
                token: token.clone(),
                port,
                program: program.clone(),
                log: tempfile::Builder::new()
                    .prefix("writ-scim2-server-")
                    .suffix(".log")
                    .tempfile()
                    .unwrap_or_else(|e| panic!("cannot create a log file for scim2-server: {e}")),
                child: None,
            };
            match server.run() {
                Ok(()) => return server,
                Err(e) => last = e,
            }
        }
        panic!("scim2-server did not start: {last}");
    }

    fn run(&mut self) -> Result<(), String> {
        let log = self
            .log
            .reopen()
            .unwrap_or_else(|e| panic!("cannot open the scim2-server log: {e}"));
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot open the scim2-server log: {e}"));
        let mut child = Command::new(&self.program)
            .args(["--hostname", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--bearer-token", &self.token])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("{MISSING} (cannot run {}: {e})", self.program.display()));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("it exited with {status}: {}", self.log_text()));
            }
            if let Ok((200, _)) = self.try_request("GET", "/ServiceProviderConfig", None) {
                self.child = Some(child);
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("no answer within 30 s: {}", self.log_text()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stop the server (its in-memory data is lost); the port then refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok()
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the server wrote to stdout and stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Create a user; its id.
    pub fn create_user(&self, user_name: &str) -> String {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":{}}}"#,
            json_string(user_name)
        );
        let (status, reply) = self.request("POST", "/Users", Some(&body));
        assert_eq!(status, 201, "creating user `{user_name}`: {reply}");
        string_field(&reply, "id").unwrap_or_else(|| panic!("no id in {reply}"))
    }

    /// Create a group without members; its id.
    pub fn create_group(&self, display_name: &str) -> String {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":{}}}"#,
            json_string(display_name)
        );
        let (status, reply) = self.request("POST", "/Groups", Some(&body));
        assert_eq!(status, 201, "creating group `{display_name}`: {reply}");
        string_field(&reply, "id").unwrap_or_else(|| panic!("no id in {reply}"))
    }

    /// Add a member by hand (a PATCH as an administrator would send it).
    pub fn add_member(&self, group_id: &str, user_id: &str) {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"add","path":"members","value":[{{"value":{}}}]}}]}}"#,
            json_string(user_id)
        );
        let (status, reply) = self.request("PATCH", &format!("/Groups/{group_id}"), Some(&body));
        assert!(
            status == 200 || status == 204,
            "adding {user_id} to {group_id}: HTTP {status} {reply}"
        );
    }

    /// The member ids of a group, read directly from the server.
    pub fn members(&self, group_id: &str) -> Vec<String> {
        let (status, reply) = self.request(
            "GET",
            &format!("/Groups/{group_id}?attributes=members"),
            None,
        );
        assert_eq!(status, 200, "reading group {group_id}: {reply}");
        // With `attributes=members` the only "value" keys are the members' ids.
        let mut ids = Vec::new();
        let mut rest = reply.as_str();
        while let Some(at) = rest.find("\"value\"") {
            rest = &rest[at + "\"value\"".len()..];
            if let Some(id) = string_field(&format!("{{\"value\"{rest}"), "value") {
                ids.push(id);
            }
        }
        ids
    }

    /// One request with the token; the status and the body. Panics if the server
    /// cannot be reached.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        self.try_request(method, path, body)
            .unwrap_or_else(|e| panic!("{method} {path} on scim2-server: {e}\n{}", self.log_text()))
    }

    fn try_request(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<(u16, String), String> {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        let body = body.unwrap_or("");
        let request = format!(
            "{method} /v2{path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n\
             Accept: application/scim+json\r\nContent-Type: application/scim+json\r\n\
             Content-Length: {len}\r\nConnection: close\r\n\r\n{body}",
            port = self.port,
            token = self.token,
            len = body.len(),
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut reply = String::new();
        stream
            .read_to_string(&mut reply)
            .map_err(|e| e.to_string())?;
        let status = reply
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP reply: {reply:?}"))?;
        let body = reply
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        Ok((status, body))
    }
}

impl Drop for Scim2Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn find_program() -> PathBuf {
    if let Some(path) = std::env::var_os("WRIT_SCIM2_SERVER") {
        let path = PathBuf::from(path);
        if !path.exists() {
            panic!(
                "{MISSING} (WRIT_SCIM2_SERVER={} does not exist)",
                path.display()
            );
        }
        return path;
    }
    if Path::new(VENV_BIN).exists() {
        return PathBuf::from(VENV_BIN);
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("scim2-server"))
            .find(|candidate| candidate.is_file())
    });
    on_path
        .unwrap_or_else(|| panic!("{MISSING} (looked at $WRIT_SCIM2_SERVER, {VENV_BIN} and PATH)"))
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("no local address: {e}"))
        .port()
}

/// A JSON string literal (enough escaping for test names).
fn json_string(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The first `"key": "<string>"` in a JSON text, unescaped (simple escapes only).
fn string_field(json: &str, key: &str) -> Option<String> {
    let needle = format!("\"{key}\"");
    let after = &json[json.find(&needle)? + needle.len()..];
    let after = after
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = after.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}
