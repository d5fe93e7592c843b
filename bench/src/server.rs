//! The operation center in a child process, so that its memory is measured apart from the
//! bench's clients: the bench re-executes itself with the hidden `--serve CONFIG` argument
//! ([`serve`]), which starts what `Center::start` starts in the bench process
//! (`ompp_server::run::start(&config, Role::All, ..)`, the store being the SQLite file in the
//! data directory), prints the bound addresses as one JSON line on stdout ([`Ready`]), and
//! serves until its stdin is closed (the bench stops it, or the bench died) or it gets
//! SIGTERM or SIGINT, then stops gracefully (`Running::stop`).
//!
//! The bench side ([`ServerProcess`]) reads that line, forwards the child's stderr to its own
//! (prefixed `[server <pid>]`; the child writes nothing there unless something goes wrong),
//! reads the child's `/proc/<pid>/status` (and `measure.rs` its `/proc/<pid>/stat`), and kills
//! the child when it is dropped without being stopped.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ompp_server::clock::SystemClock;
use ompp_server::config::Config;
use ompp_server::run::{Role, start};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::BenchResult;
use crate::measure::{Memory, process_memory};

/// The configuration file the bench writes for the child, in the center's data directory.
const CONFIG_FILE: &str = "bench-server-config.json";
/// How long the child may take to start and print its addresses.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the child may take to stop once its stdin is closed.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of the child's stderr kept for error messages.
const STDERR_TAIL: usize = 20;

/// What the child prints, as one JSON line, once it serves.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Ready {
    pub(crate) network: SocketAddr,
    pub(crate) mobile: SocketAddr,
    pub(crate) handsets: SocketAddr,
}

/// The child's side: `ompp-bench --serve CONFIG`.
pub(crate) fn serve(config_path: &Path) -> ExitCode {
    let config = match read_config(config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("ompp-bench --serve: {error}");
            return ExitCode::from(2);
        }
    };
    // The same runtime the bench process has (and the operation center had in it).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ompp-bench --serve: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_until_stopped(&config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ompp-bench --serve: {error}");
            ExitCode::FAILURE
        }
    }
}

fn read_config(path: &Path) -> BenchResult<Config> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("invalid configuration {}: {e}", path.display()))
}

async fn serve_until_stopped(config: &Config) -> BenchResult<()> {
    use std::io::Write as _;
    use tokio::signal::unix::{SignalKind, signal};

    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?;
    // Stdin closed: the bench stops this server, or the bench is gone. A plain thread, so that
    // a blocked read never holds up the runtime's shutdown.
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
        let _ = closed_tx.send(());
    });

    let running = start(config, Role::All, Arc::new(SystemClock), None)
        .await
        .map_err(|e| format!("cannot start the operation center: {e}"))?;
    let ready = Ready {
        network: running.network_addr.ok_or("no network server")?,
        mobile: running.mobile_addr.ok_or("no mobile server")?,
        handsets: running
            .sms
            .as_ref()
            .map(|s| s.handset_addr)
            .ok_or("no SMS center")?,
    };
    let line = serde_json::to_string(&ready).map_err(|e| format!("ready line: {e}"))?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .map_err(|e| format!("cannot write the ready line: {e}"))?;
    }
    tokio::select! {
        _ = closed_rx => {}
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    running.stop().await;
    Ok(())
}

/// The bench's handle on a server child. Dropping it without [`ServerProcess::stop`] kills the
/// child.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    /// Held open while the child serves; closing it tells the child to stop.
    stdin: Option<ChildStdin>,
    pid: u32,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Forwards the child's stderr; ends when the pipe closes.
    stderr_task: Option<tokio::task::JoinHandle<()>>,
}

impl ServerProcess {
    /// Writes `config` into its data directory, starts `ompp-bench --serve` on it and waits for
    /// its addresses.
    pub(crate) async fn spawn(config: &Config) -> BenchResult<(Self, Ready)> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
        let config_path: PathBuf = config.data_dir.join(CONFIG_FILE);
        let text = serde_json::to_string_pretty(config)
            .map_err(|e| format!("server configuration: {e}"))?;
        std::fs::write(&config_path, text)
            .map_err(|e| format!("cannot write {}: {e}", config_path.display()))?;
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the bench executable: {e}"))?;
        let mut child = Command::new(&exe)
            .arg("--serve")
            .arg(&config_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {} --serve: {e}", exe.display()))?;
        let pid = child
            .id()
            .ok_or("the server process exited before it could be observed")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe to the server")?;
        let stderr = child.stderr.take().ok_or("no stderr pipe to the server")?;
        let stderr_tail = Arc::new(Mutex::new(VecDeque::with_capacity(STDERR_TAIL)));
        let tail = stderr_tail.clone();
        let stderr_task = tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[server {pid}] {line}");
                if let Ok(mut tail) = tail.lock() {
                    if tail.len() == STDERR_TAIL {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
            }
        });
        let mut process = Self {
            child,
            stdin,
            pid,
            stderr_tail,
            stderr_task: Some(stderr_task),
        };
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(READY_TIMEOUT, lines.next_line()).await;
        let line = match first {
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => {
                return Err(process
                    .failure("the server process ended before it was ready")
                    .await);
            }
            Ok(Err(error)) => {
                return Err(process
                    .failure(&format!("cannot read the server's stdout: {error}"))
                    .await);
            }
            Err(_) => {
                return Err(process
                    .failure(&format!(
                        "the server process was not ready within {READY_TIMEOUT:?}"
                    ))
                    .await);
            }
        };
        let ready: Ready = match serde_json::from_str(&line) {
            Ok(ready) => ready,
            Err(error) => {
                return Err(process
                    .failure(&format!("unexpected ready line {line:?}: {error}"))
                    .await);
            }
        };
        // Whatever else it prints (nothing, normally) must not fill the pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok((process, ready))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The child's VmHWM and VmRSS now; an error (with its stderr tail) if it has exited.
    pub(crate) async fn memory(&mut self) -> BenchResult<Memory> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Err(self
                .failure(&format!("the server process exited early ({status})"))
                .await);
        }
        process_memory(self.pid)
    }

    /// Closes the child's stdin (it stops gracefully: servers drained, SQLite closed) and waits
    /// for it; kills it if it does not end in time. An error if it did not exit cleanly.
    pub(crate) async fn stop(mut self) -> BenchResult<()> {
        drop(self.stdin.take());
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(Ok(status)) if status.success() => {
                self.stderr_drained(Duration::from_secs(5)).await;
                Ok(())
            }
            Ok(Ok(status)) => Err(self
                .failure(&format!("the server process stopped with {status}"))
                .await),
            Ok(Err(error)) => Err(self
                .failure(&format!("cannot wait for the server process: {error}"))
                .await),
            Err(_) => Err(self
                .failure(&format!(
                    "the server process did not stop within {STOP_TIMEOUT:?}; killed"
                ))
                .await),
        }
    }

    /// Waits up to `limit` for the rest of the child's stderr (it ends when the pipe closes).
    async fn stderr_drained(&mut self, limit: Duration) {
        if let Some(task) = self.stderr_task.take() {
            let _ = tokio::time::timeout(limit, task).await;
        }
    }

    /// `what`, with the child's exit status and the tail of its stderr; kills the child if it
    /// still runs.
    async fn failure(&mut self, what: &str) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => status.to_string(),
            _ => {
                let _ = self.child.kill().await;
                "killed by the bench".to_owned()
            }
        };
        self.stderr_drained(Duration::from_secs(2)).await;
        let tail = self
            .stderr_tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n    "))
            .unwrap_or_default();
        let tail = if tail.is_empty() {
            "(nothing on stderr)".to_owned()
        } else {
            format!("stderr tail:\n    {tail}")
        };
        format!("server process {} ({status}): {what}; {tail}", self.pid)
    }
}
