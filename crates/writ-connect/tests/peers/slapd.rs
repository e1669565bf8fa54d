//! A real OpenLDAP server for tests: `Slapd::start()` runs an unprivileged slapd from a
//! temporary directory on a free loopback port, with `dc=example,dc=com`,
//! `ou=people` and `ou=groups` loaded; dropping it stops the server.
//!
//! Self-contained (std and `tempfile` only), so other crates' tests can include it:
//! `#[path = "../../writ-connect/tests/peers/slapd.rs"] mod slapd;`
//!
//! slapd runs in the foreground (`-d 0`), so the test owns the process and can stop,
//! restart and reap it without racing a daemon's pid file.

#![allow(dead_code)]

use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SCHEMA_DIR: &str = "/etc/ldap/schema";
const MODULE_DIR: &str = "/usr/lib/ldap";
const MISSING: &str = "slapd not found: run ./scripts/test, which installs slapd and ldap-utils";

/// A running slapd. Stopped (and its directory removed) on drop.
#[derive(Debug)]
pub struct Slapd {
    /// `ldap://127.0.0.1:PORT`
    pub url: String,
    /// The suffix, `dc=example,dc=com`.
    pub base: String,
    /// The root DN, `cn=admin,dc=example,dc=com`.
    pub admin_dn: String,
    pub admin_password: String,
    /// `ou=people,dc=example,dc=com`
    pub people: String,
    /// `ou=groups,dc=example,dc=com`
    pub groups: String,
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Slapd {
    /// Configure, load and start a fresh server; panics when slapd or ldap-utils are
    /// missing (tests must not silently skip).
    pub fn start() -> Slapd {
        for tool in [SLAPD, SLAPADD] {
            if !Path::new(tool).exists() {
                panic!("{MISSING} ({tool} is missing)");
            }
        }
        for schema in ["core", "cosine", "inetorgperson", "nis"] {
            let path = format!("{SCHEMA_DIR}/{schema}.schema");
            if !Path::new(&path).exists() {
                panic!("{MISSING} ({path} is missing)");
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("writ-slapd-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir for slapd: {e}"));
        let base = "dc=example,dc=com".to_owned();
        let admin_dn = format!("cn=admin,{base}");
        let admin_password = "slapd-admin-password".to_owned();
        let data = dir.path().join("data");
        fs::create_dir(&data).unwrap_or_else(|e| panic!("cannot create {}: {e}", data.display()));
        let conf = format!(
            "include {SCHEMA_DIR}/core.schema\n\
             include {SCHEMA_DIR}/cosine.schema\n\
             include {SCHEMA_DIR}/inetorgperson.schema\n\
             include {SCHEMA_DIR}/nis.schema\n\
             modulepath {MODULE_DIR}\n\
             moduleload back_mdb\n\
             pidfile {pid}\n\
             argsfile {args}\n\
             database mdb\n\
             suffix \"{base}\"\n\
             rootdn \"{admin_dn}\"\n\
             rootpw {admin_password}\n\
             directory {data}\n\
             maxsize 1073741824\n\
             index objectClass eq\n",
            pid = dir.path().join("slapd.pid").display(),
            args = dir.path().join("slapd.args").display(),
            data = data.display(),
        );
        let conf_path = dir.path().join("slapd.conf");
        fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("cannot write slapd.conf: {e}"));
        let ldif = format!(
            "dn: {base}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n\
             o: Example\ndc: example\n\n\
             dn: ou=people,{base}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=groups,{base}\nobjectClass: organizationalUnit\nou: groups\n"
        );
        let ldif_path = dir.path().join("base.ldif");
        fs::write(&ldif_path, ldif).unwrap_or_else(|e| panic!("cannot write base.ldif: {e}"));
        let out = Command::new(SLAPADD)
            .arg("-f")
            .arg(&conf_path)
            .arg("-l")
            .arg(&ldif_path)
            .output()
            .unwrap_or_else(|e| panic!("{MISSING} (cannot run {SLAPADD}: {e})"));
        if !out.status.success() {
            panic!(
                "slapadd failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let port = free_port();
        let mut slapd = Slapd {
            url: format!("ldap://127.0.0.1:{port}"),
            people: format!("ou=people,{base}"),
            groups: format!("ou=groups,{base}"),
            base,
            admin_dn,
            admin_password,
            port,
            dir,
            child: None,
        };
        slapd.run();
        slapd
    }

    /// Stop the server (graceful SIGTERM, then SIGKILL after 10 s); the data stays.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
        // Wait until the port no longer accepts, so "stopped" really means unreachable.
        let deadline = Instant::now() + Duration::from_secs(5);
        while accepts(self.port) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start the server again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// `ldapadd` the entries of `ldif` as the admin.
    pub fn add_ldif(&self, ldif: &str) {
        self.ldapmodify(ldif, true);
    }

    /// `ldapmodify` with `ldif` (changetype records) as the admin.
    pub fn modify_ldif(&self, ldif: &str) {
        self.ldapmodify(ldif, false);
    }

    /// Add a person `uid=<uid>,ou=people,…`.
    pub fn add_person(&self, uid: &str) -> String {
        let dn = format!("uid={uid},{}", self.people);
        self.add_ldif(&format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\n"
        ));
        dn
    }

    /// Add a `groupOfNames` `cn=<cn>,ou=groups,…` whose only member is `member`.
    pub fn add_group(&self, cn: &str, member: &str) -> String {
        let dn = format!("cn={cn},{}", self.groups);
        self.add_ldif(&format!(
            "dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\nmember: {member}\n"
        ));
        dn
    }

    /// The `member` values of `group_dn`, read with `ldapsearch` (not through any
    /// code under test), in the server's order.
    pub fn members(&self, group_dn: &str) -> Vec<String> {
        let out = Command::new("ldapsearch")
            .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url])
            .args(["-D", &self.admin_dn, "-w", &self.admin_password])
            .args(["-b", group_dn, "-s", "base", "(objectClass=*)", "member"])
            .output()
            .unwrap_or_else(|e| panic!("{MISSING} (cannot run ldapsearch: {e})"));
        if !out.status.success() {
            panic!(
                "ldapsearch {group_dn} failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(": ")?;
                name.eq_ignore_ascii_case("member")
                    .then(|| value.to_owned())
            })
            .collect()
    }

    /// slapd's own log (stderr), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("slapd.log")
    }

    fn ldapmodify(&self, ldif: &str, add: bool) {
        let mut command = Command::new("ldapmodify");
        command
            .args([
                "-x",
                "-H",
                &self.url,
                "-D",
                &self.admin_dn,
                "-w",
                &self.admin_password,
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if add {
            command.arg("-a");
        }
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("{MISSING} (cannot run ldapmodify: {e})"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(ldif.as_bytes())
                .unwrap_or_else(|e| panic!("cannot write to ldapmodify: {e}"));
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("ldapmodify did not finish: {e}"));
        if !out.status.success() {
            panic!(
                "ldapmodify failed ({}): {}{}\n--- ldif ---\n{ldif}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    fn run(&mut self) {
        let conf_path = self.dir.path().join("slapd.conf");
        let log = fs::File::create(self.log_path())
            .unwrap_or_else(|e| panic!("cannot create slapd.log: {e}"));
        let child = Command::new(SLAPD)
            .arg("-f")
            .arg(&conf_path)
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{}/", self.port))
            .args(["-d", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{MISSING} (cannot run {SLAPD}: {e})"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if accepts(self.port) {
                return;
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!("slapd exited at start-up ({status}):\n{}", self.log());
            }
            if Instant::now() >= deadline {
                self.stop();
                panic!(
                    "slapd did not accept connections on port {} within 10 s:\n{}",
                    self.port,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener
        .local_addr()
        .unwrap_or_else(|e| panic!("cannot read the bound port: {e}"))
        .port()
}

fn accepts(port: u16) -> bool {
    TcpStream::connect_timeout(
        &(Ipv4Addr::LOCALHOST, port).into(),
        Duration::from_millis(200),
    )
    .is_ok()
}
