//! A private PostgreSQL server of one test, started from the installed binaries in a temporary
//! directory, so the test can stop and restart it without touching the shared server.

use std::{path::PathBuf, process::Command};

/// A private server; stopped and deleted when dropped.
pub struct PrivatePostgres {
    dir: PathBuf,
    /// Port it listens on.
    pub port: u16,
    pg_ctl: PathBuf,
    run_as: Option<String>,
}

fn pg_bin(name: &str) -> Option<PathBuf> {
    if let Ok(out) = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        && out.status.success()
    {
        return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    found.sort();
    found.pop()
}

impl PrivatePostgres {
    /// Initialises and starts a server on a free port (as the `postgres` user when run as root).
    pub async fn start() -> Self {
        let initdb = pg_bin("initdb").expect("initdb is installed");
        let pg_ctl = pg_bin("pg_ctl").expect("pg_ctl is installed");
        let dir =
            std::env::temp_dir().join(format!("elearning-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let is_root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let run_as = is_root.then(|| "postgres".to_owned());
        if let Some(user) = &run_as {
            let _ = Command::new("chown").arg("-R").arg(user).arg(&dir).status();
        }
        let port = super::dead_port().await;
        let me = Self {
            dir,
            port,
            pg_ctl,
            run_as,
        };
        let data = me.dir.join("data");
        let ok = me
            .command(&initdb)
            .arg("-D")
            .arg(&data)
            .args(["-U", "test", "--auth=trust"])
            .output()
            .expect("run initdb")
            .status
            .success();
        assert!(ok, "initdb failed");
        me.start_server();
        me
    }

    fn command(&self, bin: &PathBuf) -> Command {
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        }
    }

    /// Starts (or restarts) the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.display()
        );
        let status = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "30", "-o", &opts, "start"])
            .output()
            .expect("run pg_ctl start");
        assert!(
            status.status.success(),
            "pg_ctl start failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
    }

    /// Stops the server at once, as a crash would (`-m immediate`).
    pub fn stop_server(&self) {
        let _ = self
            .command(&self.pg_ctl)
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }

    /// Connection string of database `db` (`postgres` exists from the start).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://test@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop_server();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
